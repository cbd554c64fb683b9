// Package cmaf turns access units into CMAF (ISO/IEC 23000-19) media: one
// init section per track and a run of fragments (moof+mdat) grouped into
// low-latency parts and keyframe-aligned segments.
//
// It is pure computation: no clocks, no I/O, no locks. The origin feeds it
// units and stores what comes out; that keeps the timing rules (where parts
// and segments are cut, how renditions stay aligned) testable and benchmarkable
// on their own.
package cmaf
