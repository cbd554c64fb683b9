package player

import (
	"context"
	"errors"
)

func (v *viewer) runDASH(ctx context.Context) error { return errors.New("todo") }
