package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/redis/rueidis"

	"github.com/heraldhq/herald/internal/beams/api"
	"github.com/heraldhq/herald/internal/beams/apns"
	"github.com/heraldhq/herald/internal/beams/deliver"
	"github.com/heraldhq/herald/internal/beams/devices/sqldevices"
	"github.com/heraldhq/herald/internal/beams/fcm"
	"github.com/heraldhq/herald/internal/beams/instance"
	"github.com/heraldhq/herald/internal/beams/instance/stored"
	"github.com/heraldhq/herald/internal/beams/netguard"
	"github.com/heraldhq/herald/internal/beams/queue"
	"github.com/heraldhq/herald/internal/beams/queue/redisqueue"
	"github.com/heraldhq/herald/internal/beams/webpush"
	redisbroker "github.com/heraldhq/herald/internal/broker/redis"
	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/metrics"
	"github.com/heraldhq/herald/internal/sqldsn"
)

// BeamsQueueFile is the single-node publish queue in the data directory.
const BeamsQueueFile = "beams-queue.db"

// pushTimeout bounds one push request to a push service, body included.
const pushTimeout = 30 * time.Second

// beamsService is the push-notification half of the server: the API
// handler, the delivery pipeline and what they share.
type beamsService struct {
	handler  http.Handler
	pipeline *deliver.Pipeline
	devices  *sqldevices.Store
	queue    queue.Queue
	client   rueidis.Client // cluster mode: the queue's Redis connection
}

// openBeams builds the Beams service, or nil when push notifications are
// off: no instance in the config and no app store whose stored instances
// (`herald beams`, the admin API) could be served. Devices and stored
// instances live in the app store's database (dsn); the publish queue is
// in Redis in cluster mode with a shared app store (nodeID names this node
// there), so a node's death loses no publish, else bbolt in the data dir.
func openBeams(ctx context.Context, cfg config.Config, dsn string, withStore bool, nodeID string, m *metrics.BeamsMetrics, log *slog.Logger) (*beamsService, error) {
	b := cfg.Beams
	if len(b.Instances) == 0 && !withStore {
		return nil, nil
	}
	store, err := sqldevices.Open(ctx, dsn, sqldevices.Options{})
	if err != nil {
		return nil, fmt.Errorf("beams: %w", err)
	}
	s := &beamsService{devices: store}
	fail := func(err error) (*beamsService, error) {
		s.close()
		return nil, err
	}
	build := func(ctx context.Context, rec *stored.Record) (*instance.Instance, error) {
		return buildInstance(ctx, rec, b, store)
	}
	var list []*instance.Instance
	for _, c := range b.Instances {
		rec, err := recordFromConfig(c)
		if err == nil {
			var in *instance.Instance
			if in, err = build(ctx, rec); err == nil {
				list = append(list, in)
				continue
			}
		}
		return fail(fmt.Errorf("beams instance %s: %w", c.ID, err))
	}
	registry := stored.NewRegistry(stored.Config{}, stored.Deps{Config: list, Store: store, Build: build, Logger: log})
	if _, err := registry.Shadowed(ctx); err != nil {
		log.Warn("beams: stored instances not listed", "err", err)
	}

	// Only PostgreSQL is shared by nodes; an SQLite file (database_url
	// sqlite:… included) is each node's own.
	shared := cfg.Redis.Enabled() && sqldsn.IsPostgres(dsn)
	if cfg.Redis.Enabled() && !shared {
		log.Warn("beams: cluster mode with a per-node SQLite app store: each node keeps its own devices, VAPID keys and publish queue; set database_url to PostgreSQL so the nodes share them")
	}
	if shared {
		client, err := redisbroker.NewClient(redisbroker.Config{URL: cfg.Redis.URL, Prefix: cfg.Redis.Prefix, NodeID: nodeID})
		if err != nil {
			return fail(fmt.Errorf("beams queue: %w", err))
		}
		s.client = client
		s.queue = redisqueue.New(client, cfg.Redis.Prefix, redisqueue.Options{Consumer: nodeID, MaxJobs: b.MaxQueue, Logger: log})
	} else {
		if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
			return fail(fmt.Errorf("beams: data dir: %w", err))
		}
		q, err := queue.Open(filepath.Join(cfg.DataDir, BeamsQueueFile), queue.Options{MaxJobs: b.MaxQueue, Logger: log})
		if err != nil {
			return fail(fmt.Errorf("beams queue: %w", err))
		}
		s.queue = q
	}
	s.handler = api.New(api.Config{AllowPrivateEndpoints: b.AllowPrivateEndpoints, DeviceRate: b.DeviceRate, DeviceBurst: b.DeviceBurst},
		api.Deps{Instances: registry, Devices: store, Queue: s.queue, Logger: log, Metrics: m})
	s.pipeline = deliver.New(deliver.Config{Workers: b.Workers, PerOrigin: b.MaxPerOrigin},
		deliver.Deps{Queue: s.queue, Devices: store, Instances: registry, Logger: log, Metrics: m})
	return s, nil
}

// recordFromConfig reads a configured instance's credential files into the
// form stored instances have, so both are built the same way.
func recordFromConfig(c config.BeamsInstance) (*stored.Record, error) {
	rec := &stored.Record{ID: c.ID, SecretKey: c.SecretKey, VAPIDSubject: c.VAPIDSubject}
	if f := c.FCM; f != nil {
		data, err := os.ReadFile(f.ServiceAccountFile)
		if err != nil {
			return nil, fmt.Errorf("fcm: %w", err)
		}
		rec.FCM = &stored.FCM{ServiceAccount: string(data)}
	}
	if a := c.APNs; a != nil {
		data, err := os.ReadFile(a.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("apns: %w", err)
		}
		rec.APNs = &stored.APNs{Key: string(data), KeyID: a.KeyID, TeamID: a.TeamID, Topic: a.Topic, Production: a.Production}
	}
	return rec, nil
}

// buildInstance turns an instance's record into one with its senders. Its
// VAPID key is generated once and kept in the device database, which every
// node sharing the app store reads.
func buildInstance(ctx context.Context, rec *stored.Record, b config.BeamsConfig, store *sqldevices.Store) (*instance.Instance, error) {
	private, err := store.InstanceKey(ctx, rec.ID, "vapid", func() (string, error) {
		k, err := webpush.NewVAPIDKey()
		if err != nil {
			return "", err
		}
		return k.PrivateString(), nil
	})
	if err != nil {
		return nil, err
	}
	key, err := webpush.ParseVAPIDKey(private)
	if err != nil {
		return nil, fmt.Errorf("stored VAPID key: %w", err)
	}
	subject := rec.VAPIDSubject
	if subject == "" {
		subject = config.DefaultVAPIDSubject
	}
	in := &instance.Instance{
		ID:                rec.ID,
		Secrets:           rec.Secrets(),
		VAPID:             key,
		MaxDevicesPerUser: b.MaxDevicesPerUser,
		PublishRate:       b.PublishRate,
		Web: &webpush.Sender{Key: key, Subject: subject, AllowPrivate: b.AllowPrivateEndpoints,
			Client: netguard.Client(b.AllowPrivateEndpoints, pushTimeout)},
	}
	if f := rec.FCM; f != nil {
		acct, err := fcm.LoadServiceAccount([]byte(f.ServiceAccount))
		if err != nil {
			return nil, fmt.Errorf("fcm service account: %w", err)
		}
		in.FCM = &fcm.Sender{Account: acct}
	}
	if a := rec.APNs; a != nil {
		k, err := apns.LoadKey([]byte(a.Key))
		if err != nil {
			return nil, fmt.Errorf("apns key: %w", err)
		}
		in.APNs = &apns.Sender{KeyID: a.KeyID, TeamID: a.TeamID, Key: k, Topic: a.Topic, Production: a.Production}
		in.APNsTopics = []string{a.Topic}
	}
	return in, nil
}

// close releases what openBeams opened; the pipeline has stopped before.
func (s *beamsService) close() {
	if s == nil {
		return
	}
	if s.queue != nil {
		_ = s.queue.Close()
	}
	if s.client != nil {
		s.client.Close()
	}
	_ = s.devices.Close()
}
