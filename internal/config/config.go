// Package config layers a subcommand's settings: flag defaults, then an
// optional YAML file (--config), then LIVECDN_* environment variables, then
// the command line, which always wins. Every setting is a flag, so --help
// documents all of them with their defaults.
package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// EnvPrefix starts every environment variable name.
const EnvPrefix = "LIVECDN_"

// ErrHelp is returned when -h/--help was asked for; the usage has been printed.
var ErrHelp = flag.ErrHelp

// EnvName returns the environment variable of a flag: --cache-size → LIVECDN_CACHE_SIZE.
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Parse parses args into fs and fills every flag not given on the command
// line from the environment or the YAML file named by the "config" flag (which
// fs must define). Errors are one line, suitable for "exit 2".
func Parse(fs *flag.FlagSet, args []string, usageOut io.Writer) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(usageOut)
			fs.Usage()
			return ErrHelp
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	// The config file itself may come from the environment.
	if !set["config"] && fs.Lookup("config") != nil {
		if v, ok := os.LookupEnv(EnvName("config")); ok {
			if err := fs.Set("config", v); err != nil {
				return fmt.Errorf("%s: %v", EnvName("config"), err)
			}
		}
	}
	fromFile := map[string][]string{}
	if f := fs.Lookup("config"); f != nil && f.Value.String() != "" {
		var err error
		if fromFile, err = readYAML(f.Value.String()); err != nil {
			return err
		}
		for k := range fromFile {
			if fs.Lookup(k) == nil || k == "config" {
				return fmt.Errorf("config %s: unknown key %q", f.Value.String(), k)
			}
		}
	}
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || set[f.Name] || f.Name == "config" {
			return
		}
		if v, ok := os.LookupEnv(EnvName(f.Name)); ok {
			for _, item := range splitList(f, v) {
				if e := fs.Set(f.Name, item); e != nil {
					err = fmt.Errorf("%s=%q: %v", EnvName(f.Name), v, e)
					return
				}
			}
			return
		}
		for _, v := range fromFile[f.Name] {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("config key %s=%q: %v", f.Name, v, e)
				return
			}
		}
	})
	return err
}

// splitList splits comma-separated environment values for repeatable flags.
func splitList(f *flag.Flag, v string) []string {
	if _, ok := f.Value.(interface{ Repeatable() }); ok {
		return strings.Split(v, ",")
	}
	return []string{v}
}

// readYAML reads a flat mapping of flag names to scalars or lists of scalars.
func readYAML(path string) (map[string][]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %v", err)
	}
	var raw map[string]any
	if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&raw); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config %s: %v", path, oneLine(err))
	}
	out := map[string][]string{}
	for k, v := range raw {
		switch x := v.(type) {
		case []any:
			for _, item := range x {
				out[k] = append(out[k], fmt.Sprint(item))
			}
		case map[string]any:
			return nil, fmt.Errorf("config %s: key %q must be a value or a list", path, k)
		case nil:
			out[k] = []string{""}
		default:
			out[k] = []string{fmt.Sprint(x)}
		}
	}
	return out, nil
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

// List is a repeatable string flag (--origin a --origin b).
type List []string

// String implements flag.Value.
func (l *List) String() string { return strings.Join(*l, ",") }

// Set implements flag.Value.
func (l *List) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// Repeatable marks List so environment values are split on commas.
func (l *List) Repeatable() {}

// Size is a byte-count flag that accepts units: 1GiB, 512MiB, 64KiB, 100MB, 1000.
type Size int64

// String implements flag.Value.
func (s *Size) String() string {
	v := int64(*s)
	for _, u := range []struct {
		n    int64
		name string
	}{{1 << 40, "TiB"}, {1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if v >= u.n && v%u.n == 0 {
			return fmt.Sprintf("%d%s", v/u.n, u.name)
		}
	}
	return fmt.Sprint(v)
}

// Set implements flag.Value.
func (s *Size) Set(v string) error {
	num := strings.TrimRight(v, "KMGTiBb")
	unit := v[len(num):]
	mult, ok := map[string]int64{"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
		"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[unit]
	var n int64
	if _, err := fmt.Sscan(num, &n); err != nil || !ok || n < 0 || fmt.Sprint(n) != num {
		return fmt.Errorf("%q is not a size (e.g. 512MiB, 1GiB)", v)
	}
	*s = Size(n * mult)
	return nil
}
