//go:build !race

package protocol

// allocScale multiplies allocation budgets; see race_on_test.go.
const allocScale = 1
