package hls

import (
	"fmt"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/livecdn/livecdn/origin/live"
)

// AudioGroup is the GROUP-ID of the audio renditions.
const AudioGroup = "audio"

// Multivariant writes the multivariant playlist of a stream: one variant per
// video rendition, audio as a separate rendition group, per Apple's authoring
// specification. Bitrates are measured, codecs read from the bitstream.
func Multivariant(rends []live.Snapshot) ([]byte, error) {
	m := playlist.Multivariant{Version: 9, IndependentSegments: true}
	var audio *live.Snapshot
	for i := range rends {
		if !rends[i].Video && rends[i].Info.Codec != "" {
			audio = &rends[i]
			break
		}
	}
	audioPeak, audioAvg := 0, 0
	if audio != nil {
		audioPeak, audioAvg = Bandwidth(*audio)
		uri := audio.Name + "/index.m3u8"
		r := &playlist.MultivariantRendition{
			Type: playlist.MultivariantRenditionTypeAudio, GroupID: AudioGroup, Name: audio.Name,
			Autoselect: true, Default: true, URI: &uri,
		}
		if audio.Info.Channels > 0 {
			ch := fmt.Sprint(audio.Info.Channels)
			r.Channels = &ch
		}
		m.Renditions = append(m.Renditions, r)
	}
	for _, r := range rends {
		if !r.Video || r.Info.Codec == "" {
			continue
		}
		peak, avg := Bandwidth(r)
		v := &playlist.MultivariantVariant{
			Bandwidth: peak + audioPeak, URI: r.Name + "/index.m3u8", Codecs: []string{r.Info.Codec},
		}
		a := avg + audioAvg
		v.AverageBandwidth = &a
		if r.Info.Width > 0 {
			v.Resolution = fmt.Sprintf("%dx%d", r.Info.Width, r.Info.Height)
		}
		if r.Info.FPS > 0 {
			fps := r.Info.FPS
			v.FrameRate = &fps
		}
		if audio != nil {
			v.Codecs = append(v.Codecs, audio.Info.Codec)
			v.Audio = AudioGroup
		}
		m.Variants = append(m.Variants, v)
	}
	if len(m.Variants) == 0 && audio != nil { // audio-only stream
		m.Renditions = nil
		a := audioAvg
		m.Variants = append(m.Variants, &playlist.MultivariantVariant{
			Bandwidth: audioPeak, AverageBandwidth: &a, Codecs: []string{audio.Info.Codec},
			URI: audio.Name + "/index.m3u8",
		})
	}
	if len(m.Variants) == 0 {
		return nil, fmt.Errorf("stream has no renditions yet")
	}
	return m.Marshal()
}
