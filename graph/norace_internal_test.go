//go:build !race

package graph

// raceEnabled: see race_internal_test.go.
const raceEnabled = false
