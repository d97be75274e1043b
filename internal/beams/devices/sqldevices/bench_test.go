package sqldevices

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/beams/devices"
	"github.com/heraldhq/herald/internal/pgtest"
)

const (
	benchDevices = 100_000
	benchPage    = 1000
)

// BenchmarkByInterestsSQLite reads the devices of one interest of 100,000
// devices, a page of 1,000 per op, from the first page to the last and
// round again.
func BenchmarkByInterestsSQLite(b *testing.B) {
	benchByInterests(b, openT(b, sqliteDSN(b)))
}

// BenchmarkByInterestsPostgres is the same on a throw-away PostgreSQL.
func BenchmarkByInterestsPostgres(b *testing.B) {
	pg := pgtest.Start(b)
	benchByInterests(b, openT(b, pg.NewICUDB(b)))
}

func benchByInterests(b *testing.B, s *Store) {
	ctx := context.Background()
	seed(b, s, "inst", "news", benchDevices)
	b.ReportAllocs()
	cursor, got, pages := "", 0, 0
	for b.Loop() {
		list, next, err := s.ByInterests(ctx, "inst", []string{"news"}, cursor, benchPage)
		if err != nil {
			b.Fatal(err)
		}
		got += len(list)
		pages++
		if cursor = next; next == "" {
			if got != benchDevices {
				b.Fatalf("a full pass read %d devices, want %d", got, benchDevices)
			}
			got = 0
		}
	}
	b.ReportMetric(float64(benchPage), "devices/op")
}

// seed inserts n web devices of realistic size on interest, with SQL in
// one transaction (registering them one by one would take minutes).
func seed(b *testing.B, s *Store, instance, interest string, n int) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	token := strings.Repeat("eyJlbmRwb2ludCI6Imh0dHBzOi8vZmNtLmdvb2dsZWFwaXMuY29tL2ZjbS9zZW5k", 5)
	endpoint := "https://fcm.googleapis.com/fcm/send/" + strings.Repeat("dGVzdC1lbmRwb2ludA", 8)
	p256dh := "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM"
	now := time.Now().UnixMicro()
	const batch = 400
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for start := 0; start < n; start += batch {
			end := min(start+batch, n)
			var dq, iq strings.Builder
			dq.WriteString(`INSERT INTO beams_device (` + deviceCols + `) VALUES `)
			iq.WriteString(`INSERT INTO beams_device_interest (device_id, instance_id, interest) VALUES `)
			var dargs, iargs []any
			for i := start; i < end; i++ {
				if i > start {
					dq.WriteString(", ")
					iq.WriteString(", ")
				}
				dq.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)")
				iq.WriteString("(?, ?, ?)")
				id := devices.NewID(devices.Web)
				dargs = append(dargs, id, instance, "web", token+itoa(i), endpoint+itoa(i), p256dh, "tBHItJI5svbpez7KI4CCXg",
					"", `{"sdkVersion":"2.1.0"}`, now, now)
				iargs = append(iargs, id, instance, interest)
			}
			if _, err := tx.ExecContext(ctx, s.d.q(dq.String()), dargs...); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, s.d.q(iq.String()), iargs...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	// As in a long-running store: statistics gathered (PostgreSQL), the
	// write-ahead log folded into the database (SQLite).
	after := `ANALYZE`
	if s.d.name == "sqlite" {
		after = `PRAGMA wal_checkpoint(TRUNCATE)`
	}
	if _, err := s.db.ExecContext(ctx, after); err != nil {
		b.Fatal(err)
	}
}
