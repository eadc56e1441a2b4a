//go:build race

package graph

// raceEnabled says the race detector is on: sync.Pool then drops a share of
// what is put back, on purpose, so allocation bounds that count on pooling
// are looser.
const raceEnabled = true
