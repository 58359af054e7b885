package controller

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-broker/samsa/config"
)

// Config configures a Controller.
type Config struct {
	NodeID int32
	// Dir is the metadata log dir (<first log dir>/__cluster_metadata-0).
	Dir string
	// Broker is the static broker config: defaults for new topics.
	Broker *config.Broker
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the source of topic and cluster IDs; nil means crypto/rand.
	Rand io.Reader
	// SnapshotEvery is the number of log entries between LocalQuorum
	// snapshots; 0 means DefaultSnapshotEvery.
	SnapshotEvery int
	// NewQuorum builds the quorum that orders this node's metadata, driving
	// sm. Nil means a LocalQuorum in Dir. This is the one place a replicated
	// quorum plugs in.
	NewQuorum func(sm StateMachine) (Quorum, error)
}

// Controller is this node's active controller and its broker-side metadata
// view. Its operations validate against the current image, turn the request
// into records, propose them and return per-item results; validation errors
// are kerr errors wrapped with a message. Operations run one at a time, so
// each one validates against the image every earlier one produced.
type Controller struct {
	cfg    Config
	logger *slog.Logger
	loader *loader
	quorum Quorum

	// opMu serialises operations and Close.
	opMu   sync.Mutex
	closed bool
}

// Open opens the quorum, replays it into the image and, on a brand new
// cluster, commits a random cluster ID.
func Open(cfg Config) (*Controller, error) {
	if cfg.Broker == nil {
		return nil, errors.New("controller: Config.Broker is nil")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	c := &Controller{
		cfg:    cfg,
		logger: cfg.Logger,
		loader: newLoader(cfg.Logger),
	}
	var err error
	if cfg.NewQuorum != nil {
		c.quorum, err = cfg.NewQuorum(c.loader)
	} else {
		if cfg.Dir == "" {
			return nil, errors.New("controller: Config.Dir is empty")
		}
		c.quorum, err = OpenLocalQuorum(LocalQuorumConfig{
			Dir: cfg.Dir, SnapshotEvery: cfg.SnapshotEvery, Logger: cfg.Logger,
		}, c.loader)
	}
	if err != nil {
		return nil, fmt.Errorf("open metadata quorum: %w", err)
	}
	if c.Image().ClusterID == "" {
		if err := c.bootstrapClusterID(); err != nil {
			c.quorum.Close()
			return nil, err
		}
	}
	return c, nil
}

// bootstrapClusterID commits a new cluster ID, Kafka style: a random UUID in
// URL-safe base64, 22 characters (what kafka-storage.sh random-uuid prints).
func (c *Controller) bootstrapClusterID() error {
	id, err := randomUUID(c.cfg.Rand)
	if err != nil {
		return err
	}
	clusterID := formatUUID(id)
	if err := c.quorum.Propose(context.Background(), []Record{ClusterIDRecord{ClusterID: clusterID}}); err != nil {
		return fmt.Errorf("commit cluster ID: %w", err)
	}
	c.logger.Info("created cluster", slog.String("cluster.id", clusterID))
	return nil
}

// Image returns the current metadata image; never nil after Open.
func (c *Controller) Image() *Image { return c.loader.current() }

// Subscribe calls fn for every committed change, in order, one at a time,
// after Image() reflects it. Its first call, before Subscribe returns, hands
// fn the whole current image as a delta from the empty image, so fn misses
// nothing and sees nothing twice. fn must not call Propose, Subscribe or any
// operation of the Controller; it may call Image.
func (c *Controller) Subscribe(fn func(*Delta)) { c.loader.subscribe(fn) }

// Close stops the controller: operations still running finish first, later
// ones fail with NOT_CONTROLLER.
func (c *Controller) Close() error {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	if err := c.quorum.Close(); err != nil {
		return fmt.Errorf("close controller: %w", err)
	}
	return nil
}

// proposeLocked commits recs as one entry. It first applies them to the
// current image: the operations built them from that image, so a failure
// here is a bug, and it must not reach the log, where every replay would
// meet it again.
func (c *Controller) proposeLocked(ctx context.Context, recs []Record) error {
	if c.closed {
		return fmt.Errorf("%w: the controller is shut down", kerr.NotController)
	}
	if _, _, err := Apply(c.Image(), recs); err != nil {
		c.logger.Error("controller built records that do not apply", slog.Any("err", err))
		return fmt.Errorf("%w: %w", kerr.UnknownServerError, err)
	}
	start := c.cfg.Now()
	err := c.quorum.Propose(ctx, recs)
	if err != nil {
		var ke *kerr.Error
		switch {
		case errors.As(err, &ke):
			return err
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			return fmt.Errorf("%w: %w", kerr.RequestTimedOut, err)
		}
		return fmt.Errorf("%w: commit metadata: %w", kerr.UnknownServerError, err)
	}
	c.logger.Debug("committed metadata", slog.Int("records", len(recs)),
		slog.Int64("offset", c.Image().Offset), slog.Duration("took", c.cfg.Now().Sub(start)))
	return nil
}

// randomUUID returns a random version 4 UUID, skipping the values Kafka's
// Uuid.randomUuid skips: the zero UUID, the reserved metadata topic ID
// (version bits rule it out) and any whose string form starts with '-',
// which command lines would take for an option.
func randomUUID(r io.Reader) ([16]byte, error) {
	for {
		var id [16]byte
		if _, err := io.ReadFull(r, id[:]); err != nil {
			return id, fmt.Errorf("%w: read random ID: %w", kerr.UnknownServerError, err)
		}
		id[6] = id[6]&0x0f | 0x40
		id[8] = id[8]&0x3f | 0x80
		if !strings.HasPrefix(base64.RawURLEncoding.EncodeToString(id[:]), "-") {
			return id, nil
		}
	}
}
