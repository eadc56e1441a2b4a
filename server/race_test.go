//go:build race

package server_test

// raceEnabled says the race detector is on: sync.Pool then drops a share of
// what is put back, on purpose, so allocation bounds that count on pooling
// do not hold.
const raceEnabled = true
