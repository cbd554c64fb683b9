// Package live holds the in-memory state of live streams: for each stream its
// renditions, and for each rendition the init sections, the segments of the
// live window and their parts. It is what the HLS and DASH writers read and
// what blocking requests wait on; the origin's packaging goroutine is its
// only writer.
package live
