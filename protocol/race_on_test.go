//go:build race

package protocol

// allocScale multiplies allocation budgets: the race detector's allocator
// reports about twice the bytes for the same decode.
const allocScale = 2
