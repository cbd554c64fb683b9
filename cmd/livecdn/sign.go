package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/livecdn/livecdn/edge/token"
)

// signFlags are the flags of `livecdn sign`.
type signFlags struct {
	configFile, signKey, base string
	ttl                       time.Duration
}

func (f *signFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.configFile, "config", "", "YAML file of flag values (keys are flag names)")
	fs.StringVar(&f.signKey, "sign-key", "", "the edges' --sign-key secret (at least 16 bytes; required)")
	fs.DurationVar(&f.ttl, "ttl", time.Hour, "how long the signed URL stays valid")
	fs.StringVar(&f.base, "base", "", "edge URL to put in front of the path, e.g. http://edge:8081 (empty: print the path only)")
}

// runSign prints a signed viewer URL: livecdn sign --sign-key K --ttl 1h
// [--base http://edge:8081] /live/{stream}/index.m3u8. The argument may also
// be a whole URL (then without --base).
func runSign(ctx context.Context, args []string, stderr io.Writer) error {
	return runSignTo(args, os.Stdout, stderr, time.Now())
}

// runSignTo is runSign with its output and clock as arguments, for tests.
func runSignTo(args []string, stdout, stderr io.Writer, now time.Time) error {
	var f signFlags
	fs := flag.NewFlagSet("livecdn sign </live/{stream}/… path or URL>", flag.ContinueOnError)
	f.register(fs)
	flagArgs, positional := splitSignArgs(f.register, args)
	if err := parseFlags(fs, flagArgs, stderr); err != nil {
		return err
	}
	switch {
	case len(positional) != 1:
		return usageError{fmt.Errorf("want exactly one path or URL to sign, got %d", len(positional))}
	case f.signKey == "":
		return usageError{errors.New("--sign-key (or LIVECDN_SIGN_KEY) is required")}
	case f.ttl <= 0:
		return usageError{fmt.Errorf("--ttl %v: want more than 0", f.ttl)}
	}
	target, err := signTarget(f.base, positional[0])
	if err != nil {
		return usageError{err}
	}
	signer, err := token.NewSigner([]byte(f.signKey))
	if err != nil {
		return usageError{fmt.Errorf("--sign-key: %v", err)}
	}
	signed, err := signer.SignURL(target, f.ttl, now)
	if err != nil {
		return usageError{err}
	}
	_, err = fmt.Fprintln(stdout, signed)
	return err
}

// signTarget joins --base and the argument into the URL to sign.
func signTarget(base, arg string) (string, error) {
	u, err := url.Parse(arg)
	if err != nil {
		return "", fmt.Errorf("%q: %v", arg, err)
	}
	if u.Scheme != "" || u.Host != "" {
		if base != "" {
			return "", fmt.Errorf("%q is a whole URL: drop --base or pass only the path", arg)
		}
		return arg, nil
	}
	if !strings.HasPrefix(arg, "/") {
		return "", fmt.Errorf("%q: want a path like /live/{stream}/index.m3u8", arg)
	}
	if base == "" {
		return arg, nil
	}
	b, err := url.Parse(base)
	if err != nil || (b.Scheme != "http" && b.Scheme != "https") || b.Host == "" ||
		(b.Path != "" && b.Path != "/") || b.RawQuery != "" || b.Fragment != "" {
		return "", fmt.Errorf("--base %q: want scheme://host[:port], like http://edge:8081", base)
	}
	return b.Scheme + "://" + b.Host + arg, nil
}

// splitSignArgs separates positional arguments from flags, wherever they
// stand, so `sign /live/s/index.m3u8 --ttl 1h` works like the flag-first
// order (config layering takes flags only). register defines the flags on a
// scratch set; "--" ends the flags. On a parse error everything goes back
// as flags, for the real parse to report.
func splitSignArgs(register func(*flag.FlagSet), args []string) (flags, positional []string) {
	scratch := func() *flag.FlagSet {
		fs := flag.NewFlagSet("", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		register(fs)
		return fs
	}
	for len(args) > 0 {
		fs := scratch()
		if fs.Parse(args) != nil {
			return append(flags, args...), positional
		}
		rest := fs.Args()
		consumed := args[:len(args)-len(rest)]
		// "--" ended the flags, unless it was the value of the flag before it.
		if n := len(consumed); n > 0 && consumed[n-1] == "--" {
			if probe := scratch(); probe.Parse(consumed[:n-1]) == nil && probe.NArg() == 0 {
				return append(flags, consumed[:n-1]...), append(positional, rest...)
			}
		}
		flags = append(flags, consumed...)
		if len(rest) == 0 {
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	return flags, positional
}
