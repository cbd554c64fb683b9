//go:build !race

package testenv

const raceEnabled = false

// Race reports whether the tests run under the race detector (see race_on.go).
const Race = raceEnabled
