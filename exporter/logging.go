package exporter

import (
	"context"
	"io"
	"log/slog"
)

// probeLogger returns the logger a prober writes to. Probe details go to the exporter's log at
// debug level only (one line per step of every probe would drown it), and, for ?debug=true,
// at every level into buffer.
func probeLogger(base *slog.Logger, debug bool, buffer io.Writer) *slog.Logger {
	h := probeLogHandler{next: base.Handler()}
	if debug {
		h.buffer = slog.NewTextHandler(buffer, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	return slog.New(h)
}

type probeLogHandler struct {
	next   slog.Handler
	buffer slog.Handler // nil unless debugging
}

func (h probeLogHandler) Enabled(ctx context.Context, _ slog.Level) bool {
	return h.buffer != nil || h.next.Enabled(ctx, slog.LevelDebug)
}

func (h probeLogHandler) Handle(ctx context.Context, r slog.Record) error {
	if h.buffer != nil {
		if err := h.buffer.Handle(ctx, r); err != nil {
			return err
		}
	}
	if h.next.Enabled(ctx, slog.LevelDebug) {
		r = r.Clone()
		r.Level = slog.LevelDebug
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h probeLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := probeLogHandler{next: h.next.WithAttrs(attrs)}
	if h.buffer != nil {
		out.buffer = h.buffer.WithAttrs(attrs)
	}
	return out
}

func (h probeLogHandler) WithGroup(name string) slog.Handler {
	out := probeLogHandler{next: h.next.WithGroup(name)}
	if h.buffer != nil {
		out.buffer = h.buffer.WithGroup(name)
	}
	return out
}
