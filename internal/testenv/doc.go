// Package testenv is the shared test support of every livecdn package: free
// loopback ports, real ffmpeg publishers, a livecdn process started and
// stopped for real, polling helpers and headless Chromium. Tests use it
// instead of each package growing its own harness.
package testenv
