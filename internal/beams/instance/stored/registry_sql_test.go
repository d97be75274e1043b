package stored_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/beams/devices/sqldevices"
	"github.com/heraldhq/herald/internal/beams/instance"
	"github.com/heraldhq/herald/internal/beams/instance/stored"
	"github.com/heraldhq/herald/internal/beams/webpush"
)

// TestRegistryOverSQLite: the registry over the real store, with a build
// function like the server's (the VAPID key kept in the store), while a
// second store on the same file plays the CLI: a rotation and a deletion
// it makes are served within one refresh interval.
func TestRegistryOverSQLite(t *testing.T) {
	ctx := context.Background()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "apps.db")
	open := func() *sqldevices.Store {
		s, err := sqldevices.Open(ctx, dsn, sqldevices.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	server, cli := open(), open()
	var nanos atomic.Int64
	nanos.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, nanos.Load()) }
	build := func(ctx context.Context, rec *stored.Record) (*instance.Instance, error) {
		private, err := server.InstanceKey(ctx, rec.ID, "vapid", func() (string, error) {
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
			return nil, err
		}
		return &instance.Instance{ID: rec.ID, Secrets: rec.Secrets(), VAPID: key}, nil
	}
	reg := stored.NewRegistry(stored.Config{Refresh: 2 * time.Second}, stored.Deps{Store: server, Build: build, Now: now})

	id, _ := stored.NewID()
	key, _ := stored.NewSecretKey()
	if _, err := cli.CreateInstance(ctx, stored.Record{ID: id, SecretKey: key}); err != nil {
		t.Fatal(err)
	}
	in1, err := reg.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := in1.CheckSecret(key, now()); !ok || in1.VAPID == nil {
		t.Fatal("created instance not served with its key")
	}

	rot, err := cli.RotateInstanceKey(ctx, id, time.Hour, now())
	if err != nil {
		t.Fatal(err)
	}
	if in, _ := reg.Get(ctx, id); in != in1 {
		t.Fatal("re-read within the refresh interval")
	}
	nanos.Add(int64(2 * time.Second))
	in2, err := reg.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if g, ok := in2.CheckSecret(rot.SecretKey, now()); !ok || g != 0 {
		t.Error("rotated key not current after the refresh interval")
	}
	if _, ok := in2.CheckSecret(key, now()); !ok {
		t.Error("old key refused during its grace")
	}
	if in2.VAPID.PublicString() != in1.VAPID.PublicString() {
		t.Error("a rotation changed the VAPID key")
	}

	if err := cli.DeleteInstance(ctx, id); err != nil {
		t.Fatal(err)
	}
	nanos.Add(int64(2 * time.Second))
	if _, err := reg.Get(ctx, id); !errors.Is(err, instance.ErrNotFound) {
		t.Fatalf("deleted instance: %v", err)
	}
	// Created again: a new instance with a new VAPID key (the old one went
	// with the deletion).
	if _, err := cli.CreateInstance(ctx, stored.Record{ID: id, SecretKey: key}); err != nil {
		t.Fatal(err)
	}
	nanos.Add(int64(2 * time.Second))
	in3, err := reg.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if in3.VAPID.PublicString() == in1.VAPID.PublicString() {
		t.Error("the re-created instance kept the deleted one's VAPID key")
	}
}
