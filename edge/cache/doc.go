// Package cache holds the edge's objects: HTTP responses whose bodies may
// still be arriving (read-while-writer), kept in an LRU bounded by bytes.
package cache
