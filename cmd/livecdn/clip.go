package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// runClip fetches GET /api/clip/{stream}.mp4 from an origin and writes the
// MP4 to a file. It goes through the origin (not the archive directory) so it
// works the same for disk and S3 archives and from any machine.
func runClip(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("livecdn clip", flag.ContinueOnError)
	fs.String("config", "", "YAML file of flag values (keys are flag names)")
	originURL := fs.String("origin", "http://127.0.0.1:8080", "origin (or edge) base URL")
	stream := fs.String("stream", "", "stream name (required)")
	from := fs.String("from", "", "start: RFC 3339 or Unix seconds (required)")
	to := fs.String("to", "", "end: RFC 3339 or Unix seconds (required)")
	rendition := fs.String("rendition", "", "video rendition (default: the first one; audio is added)")
	out := fs.String("o", "", "output file (required)")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after this long")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *stream == "" || *from == "" || *to == "" || *out == "" {
		return usageError{fmt.Errorf("--stream, --from, --to and -o are required")}
	}
	base, err := url.Parse(*originURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return usageError{fmt.Errorf("--origin %q: want http(s)://host:port", *originURL)}
	}
	q := url.Values{"from": {*from}, "to": {*to}}
	if *rendition != "" {
		q.Set("rendition", *rendition)
	}
	u := strings.TrimRight(base.String(), "/") + "/api/clip/" + url.PathEscape(*stream) + ".mp4?" + q.Encode()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("%s: %s: %s", u, resp.Status, strings.TrimSpace(string(msg)))
	}
	tmp := *out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, *out); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %s (%d bytes)\n", *out, n)
	return nil
}
