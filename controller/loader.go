package controller

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
)

// loader is the StateMachine a Quorum drives on this node (Kafka's
// MetadataLoader): it applies committed entries to the image, publishes the
// new image and hands the delta to subscribers.
type loader struct {
	logger *slog.Logger
	image  atomic.Pointer[Image]

	// mu serialises publication: the image is replaced and its delta
	// delivered under it, so subscribers see every change once, in order,
	// one at a time, and Subscribe cannot slip between two of them.
	mu          sync.Mutex
	subscribers []func(*Delta)
}

func newLoader(logger *slog.Logger) *loader {
	l := &loader{logger: logger}
	l.image.Store(EmptyImage())
	return l
}

// current returns the published image.
func (l *loader) current() *Image { return l.image.Load() }

// ApplyEntry implements StateMachine. An entry that does not apply (the
// controller validates before proposing, so this means a bug or a damaged
// log) is skipped as a whole, but its offsets are consumed so the image
// offset keeps matching the log.
func (l *loader) ApplyEntry(recs []Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.image.Load()
	img, delta, err := Apply(old, recs)
	if err != nil {
		skipped := *old
		skipped.Offset = old.Offset + int64(len(recs))
		l.image.Store(&skipped)
		l.logger.Error("metadata entry does not apply; skipped",
			slog.Int64("offset", old.Offset+1), slog.Int("records", len(recs)), slog.Any("err", err))
		return err
	}
	l.image.Store(img)
	for _, fn := range l.subscribers {
		fn(delta)
	}
	return nil
}

// Snapshot implements StateMachine.
func (l *loader) Snapshot() (int64, []Record) {
	img := l.image.Load()
	return img.Offset, img.Records()
}

// Restore implements StateMachine.
func (l *loader) Restore(offset int64, recs []Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	img, _, err := Apply(EmptyImage(), recs)
	if err != nil {
		return fmt.Errorf("rebuild image from snapshot: %w", err)
	}
	img.Offset = offset
	delta := diffImages(l.image.Load(), img)
	l.image.Store(img)
	for _, fn := range l.subscribers {
		fn(delta)
	}
	return nil
}

// subscribe registers fn and first hands it the whole current image as a
// delta from the empty image, under the publication lock, so fn misses no
// change and sees none twice.
func (l *loader) subscribe(fn func(*Delta)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fn(diffImages(EmptyImage(), l.image.Load()))
	l.subscribers = append(l.subscribers, fn)
}
