package config

import (
	"reflect"
	"testing"
	"time"
)

func TestApplyDefaults(t *testing.T) {
	c := Config{Apps: []App{{ID: "1", Key: "k", Secret: "s"}}}
	c.ApplyDefaults()
	yes := true
	want := Config{
		Host: "0.0.0.0", Port: 6001, DataDir: "./herald-data",
		AdminListen: "127.0.0.1:9601", AdminListenDefaulted: true,
		Log:             LogConfig{Format: "text", Level: "info"},
		Metrics:         MetricsConfig{Enabled: &yes},
		ActivityTimeout: 120,
		PongTimeout:     Duration(30 * time.Second),
		ShutdownTimeout: Duration(10 * time.Second),
		CacheTTL:        Duration(30 * time.Minute),
		SigninTimeout:   Duration(30 * time.Second),
		Limits: LimitsConfig{
			MaxFrameKB: 100, MaxChannelNameLen: 200, MaxEventNameLen: 200, WriteBufferKB: 1024,
			ClientEventsPerSec: 10, MaxRequestBodyKB: 256, MaxUserInfoKB: 1, MaxUserIDLen: 128,
			MaxWatchlistSize: 100,
		},
		Webhooks: WebhooksConfig{
			LeaveDelay: Duration(3 * time.Second), BatchWindow: Duration(100 * time.Millisecond), BatchMaxEvents: 50,
			Timeout: Duration(5 * time.Second), RetryWindow: Duration(5 * time.Minute), MaxQueue: 100000, Workers: 16,
		},
		Beams: BeamsConfig{PublishRate: 100, MaxDevicesPerUser: 100, MaxQueue: 100000, Workers: 128, DeviceRate: 20, DeviceBurst: 40, MaxPerOrigin: 64},
		Redis: RedisConfig{Prefix: "herald"},
		Apps:  []App{{ID: "1", Key: "k", Secret: "s", Enabled: &yes, MaxPresenceMembers: 100, MaxEventPayloadKB: 10}},
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got  %+v\nwant %+v", c, want)
	}
	again := c
	again.ApplyDefaults()
	if !reflect.DeepEqual(again, want) {
		t.Fatal("ApplyDefaults is not idempotent")
	}
}

func TestApplyDefaultsKeepsSetValues(t *testing.T) {
	no := false
	c := Config{
		Host: "127.0.0.1", Port: 7000, DataDir: "/d", ActivityTimeout: 30,
		PongTimeout: Duration(time.Second), Log: LogConfig{Format: "json", Level: "debug"},
		Metrics: MetricsConfig{Enabled: &no},
		Limits:  LimitsConfig{MaxFrameKB: 5},
		Apps:    []App{{Enabled: &no, MaxConnections: 0, MaxPresenceMembers: 7, MaxEventPayloadKB: 3}},
	}
	c.ApplyDefaults()
	if c.Host != "127.0.0.1" || c.Port != 7000 || c.DataDir != "/d" || c.ActivityTimeout != 30 ||
		c.PongTimeout.D() != time.Second || c.Log.Format != "json" || c.Log.Level != "debug" ||
		c.Metrics.MetricsEnabled() || c.Limits.MaxFrameKB != 5 {
		t.Errorf("server values overwritten: %+v", c)
	}
	a := c.Apps[0]
	if a.IsEnabled() || a.MaxConnections != 0 || a.MaxPresenceMembers != 7 || a.MaxEventPayloadKB != 3 {
		t.Errorf("app values overwritten: %+v", a)
	}
}
