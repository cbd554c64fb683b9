package rtsp

import (
	"errors"
	"fmt"
	"strings"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/headers"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"

	"github.com/livecdn/livecdn/ingest"
)

// refusedError marks an ANNOUNCE we answered with an error status. Returning
// an error makes gortsplib close the connection after the response; the Hub
// has already logged the reason, so OnConnClose keeps it at debug level.
type refusedError struct{ err error }

func (e refusedError) Error() string { return "publish refused: " + e.err.Error() }
func (e refusedError) Unwrap() error { return e.err }

// publishRequest extracts the stream name and key from an ANNOUNCE.
//
// path and query are the request URL's path and raw query as gortsplib split
// them. The key comes from "?key=" or, when that is absent, from the password
// of Basic credentials (rtsp://user:KEY@host/live/name), because some
// encoders only have a user/password field. Digest credentials carry no
// password and so no key.
func publishRequest(path, query string, authz base.HeaderValue) (name, key string, err error) {
	// GStreamer's rtspclientsink may append a slash to the announced URL.
	path = strings.TrimSuffix(path, "/")
	p := path
	if query != "" {
		p += "?" + query
	}
	name, key, err = ingest.ParsePublishPath(p)
	if err != nil {
		return "", "", err
	}
	if key == "" && len(authz) > 0 {
		var a headers.Authorization
		if a.Unmarshal(authz) == nil && a.Method == headers.AuthMethodBasic {
			key = a.BasicPass
		}
	}
	return name, key, nil
}

// refusal turns a refused publish into an RTSP response. Clients such as
// ffmpeg print the reason phrase ("method ANNOUNCE failed: 409 ..."), so it
// says what to fix; it does not echo the Hub's error text, which names the
// address of the publisher that holds the stream.
func refusal(err error) (*base.Response, error) {
	switch {
	case errors.Is(err, ingest.ErrUnauthorized):
		// gortsplib turns ErrServerAuth into a WWW-Authenticate challenge
		// when no credentials were sent (ffmpeg then retries with the
		// user:key from its URL) and closes the connection when wrong ones
		// were.
		return &base.Response{StatusCode: base.StatusUnauthorized}, liberrors.ErrServerAuth{}
	case errors.Is(err, ingest.ErrBadName):
		return &base.Response{
			StatusCode:    base.StatusBadRequest,
			StatusMessage: "Bad Request (publish to live/{stream}; stream is 1-64 of A-Z a-z 0-9 _ -)",
		}, refusedError{err}
	case errors.Is(err, ingest.ErrBusy):
		// RTSP has no 409, but the code is HTTP's "Conflict" and clients
		// print the reason phrase, which is what a user reads.
		return &base.Response{
			StatusCode:    409,
			StatusMessage: "Conflict (stream is already being published)",
		}, refusedError{err}
	case errors.Is(err, ingest.ErrClosed):
		return &base.Response{
			StatusCode:    base.StatusServiceUnavailable,
			StatusMessage: "Service Unavailable (server is shutting down)",
		}, refusedError{err}
	default:
		return &base.Response{StatusCode: base.StatusInternalServerError}, refusedError{err}
	}
}

// OnAnnounce authorizes a publisher before any media is set up: the name and
// key are checked by the Hub, which also claims the name, and the SDP must
// describe at least one track we can pass on.
func (h *handler) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	s := h.s
	remote := ctx.Conn.NetConn().RemoteAddr().String()
	name, key, err := publishRequest(ctx.Path, ctx.Query, ctx.Request.Header["Authorization"])
	if err != nil {
		s.log.Warn("publish refused", "remote", remote, "err", err)
		return refusal(err)
	}
	sess, err := s.hub.Authorize(s.ctx, ingest.Request{Protocol: "rtsp", Name: name, Key: key, Remote: remote})
	if err != nil {
		return refusal(err)
	}
	log := s.log.With("stream", name, "remote", remote)

	convs, skipped := newConverters(ctx.Description, log)
	for _, sk := range skipped {
		log.Info("ignoring unsupported rtsp media", "media", sk)
	}
	if len(convs) == 0 {
		sess.Close()
		log.Warn("publish refused: no supported track")
		return &base.Response{
			StatusCode:    base.StatusUnsupportedMediaType,
			StatusMessage: "Unsupported Media Type (need H.264/H.265 video or AAC/Opus audio)",
		}, refusedError{errors.New("no supported track")}
	}
	if !s.addWorker() {
		sess.Close()
		return refusal(ingest.ErrClosed)
	}
	p := newPublisher(s, ctx.Session, sess, convs, log)
	ctx.Session.SetUserData(p)
	go p.run()
	log.Info("rtsp publish announced", "tracks", describeConverters(convs))
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func describeConverters(convs []*converter) string {
	parts := make([]string, len(convs))
	for i, c := range convs {
		parts[i] = fmt.Sprintf("%s@%d", c.format.Codec(), c.track.ClockRate)
		if !c.codec.ready() {
			parts[i] += "(parameters awaited in-band)"
		}
	}
	return strings.Join(parts, ",")
}
