// Package cache holds the edge's objects: HTTP responses whose bodies may
// still be arriving (read-while-writer), kept in an LRU bounded by bytes.
// Complete media bodies are sealed into anonymous memory files (Seal), off
// the Go heap, so the edge can send hits with sendfile(2).
package cache
