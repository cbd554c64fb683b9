package player

import (
	"context"
	"errors"
)

// errNoDASH: the DASH viewer (MPD refresh, $Number$ timing,
// availabilityTimeOffset) is not written yet; see bench/README.md.
var errNoDASH = errors.New("player: the DASH viewer is not implemented yet (use llhls or hls)")

func (v *viewer) runDASH(context.Context) error { return errNoDASH }
