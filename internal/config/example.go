package config

// exampleYAML ends docs/configuration.md: every key, with its default or a
// sample value. TestExampleYAML loads it and checks that it names every key.
const exampleYAML = `# herald.yaml — check it with: herald check-config --config herald.yaml
host: 0.0.0.0
port: 6001
data_dir: /var/lib/herald
database_url: sqlite:/var/lib/herald/apps.db   # or postgres://herald@db/herald
path_prefix: ""                                # e.g. /realtime
admin_listen: 127.0.0.1:9601                   # "off" turns it off
node_id: web-1

log:
  format: json          # text or json
  level: info           # debug, info, warn, error

tls:                    # both files, or neither (plain ws/http)
  cert_file: /etc/herald/tls/fullchain.pem
  key_file: /etc/herald/tls/privkey.pem

limits:
  max_frame_kb: 100
  max_channel_name_len: 200
  max_event_name_len: 200
  write_buffer_kb: 1024
  client_events_per_sec: 10
  max_request_body_kb: 256
  max_user_info_kb: 1
  max_user_id_len: 128
  max_watchlist_size: 100
  max_connections: 0    # 0: from the open-files limit
  max_memory_mb: 0      # 0: GOMEMLIMIT, else the cgroup limit, else none

metrics:
  enabled: true
  public_token: ""      # at least 16 characters to serve /metrics on the public port

activity_timeout: 120   # or 2m
pong_timeout: 30s
cache_ttl: 30m
signin_timeout: 30s
shutdown_timeout: 10s

webhooks:
  leave_delay: 3s
  batch_window: 100ms
  batch_max_events: 50
  timeout: 5s
  retry_window: 5m
  max_queue: 100000
  workers: 16

redis:
  url: ""               # redis://:password@10.0.0.5:6379/0 runs a cluster; prefer HERALD_REDIS_URL
  prefix: herald

beams:
  allow_private_endpoints: false
  publish_rate: 100
  max_devices_per_user: 100
  max_queue: 100000
  workers: 128
  device_rate: 20
  device_burst: 40
  max_per_origin: 64
  instances:
    - id: 3b5c1a6e-2f0d-4c8e-9a7b-1d2e3f405162
      secret_key: change-me-beams-secret-key
      vapid_subject: mailto:ops@example.com
      fcm:
        service_account_file: /etc/herald/fcm-service-account.json
      apns:
        key_file: /etc/herald/AuthKey_ABC123DEFG.p8
        key_id: ABC123DEFG
        team_id: TEAM123456
        topic: com.example.app
        production: true

apps:
  - id: "1234567"
    key: app-key
    secret: change-me-app-secret
    enabled: true
    enable_client_messages: false
    require_signin: false
    enable_subscription_count: false
    max_connections: 0            # 0: unlimited
    max_presence_members: 100
    max_event_payload_kb: 10
    client_events_per_sec: 0      # 0: limits.client_events_per_sec
    max_user_info_kb: 0           # 0: limits.max_user_info_kb
    max_channels_per_trigger: 100
    max_batch_size: 10
    api_rate_limit: 0             # requests per second; 0: unlimited
    api_rate_burst: 0
    allowed_origins: ["https://app.example.com", "https://*.example.com"]
    previous_secrets:
      - secret: the-old-app-secret
        expires_at: 2026-01-31T00:00:00Z
    webhooks:
      - url: https://backend.example.com/pusher/webhooks
        event_types: [channel_occupied, channel_vacated, member_added, member_removed]
        headers:
          X-Source: herald
        filter:
          channel_name_starts_with: presence-
          channel_name_ends_with: ""
`
