package main

import (
	"context"
	"io"
)

func runDemo(ctx context.Context, args []string, stderr io.Writer) error {
	return usageError{errDemoPending}
}

var errDemoPending = io.EOF
