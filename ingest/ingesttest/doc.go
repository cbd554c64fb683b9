// Package ingesttest provides fakes for the tests of ingest's protocol
// servers and readers, so each of them need not write its own.
//
// A Recorder is an ingest.Handler that keeps every published stream and
// every unit it is given, with waits for the states a test expects (a
// stream published, N units received, the session closed). A Session stands
// in for an ingest.Session where a reader drives one directly, without a
// Hub. Logs collects a server's log output for assertions.
//
// Everything here is safe for concurrent use: protocol servers write from
// their connection goroutines while the test reads.
package ingesttest
