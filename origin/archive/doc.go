// Package archive keeps every completed segment of every rendition, the init
// sections and a timing index (sequence, program date-time, duration,
// discontinuities) durably, so that replay playlists and clips can be made
// from any part of a stream long after it left the live window.
//
// Media is written to a local directory first (atomic rename) and the index
// is an append-only JSON-lines file fsynced at each segment boundary. With an
// S3 Backend that directory is a bounded spool: a background uploader copies
// each file to the bucket with retries and removes it once stored, so the
// live path never waits on S3.
package archive
