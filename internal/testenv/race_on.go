//go:build race

package testenv

const raceEnabled = true

// Race reports whether the tests run under the race detector, which slows
// load tests ten-fold; they shrink their scale under it and run full-size in
// the test script's second, race-free pass.
const Race = raceEnabled
