package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// RedisOptions configure the redis driver.
type RedisOptions struct {
	// Addr is the primary's host:port.
	Addr string
	// Wait > 0 follows every write with WAIT Wait WaitTimeout (pipelined on
	// the same connection): the write counts only once that many replicas
	// acknowledged it; fewer is an unavailable error.
	Wait        int
	WaitTimeout time.Duration
	// PoolSize is the number of connections (default: go-redis's).
	PoolSize int
}

type redisDriver struct {
	c           *redis.Client
	wait        int
	waitTimeout time.Duration
}

// NewRedis connects a redis driver (github.com/redis/go-redis/v9).
func NewRedis(o RedisOptions) (Driver, error) {
	if o.WaitTimeout <= 0 {
		o.WaitTimeout = time.Second
	}
	c := redis.NewClient(&redis.Options{
		Addr:                     o.Addr,
		PoolSize:                 o.PoolSize,
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	return &redisDriver{c: c, wait: o.Wait, waitTimeout: o.WaitTimeout}, nil
}

func (d *redisDriver) Get(ctx context.Context, key []byte) (Result, error) {
	err := d.c.Get(ctx, string(key)).Err()
	if errors.Is(err, redis.Nil) {
		return Result{}, nil
	}
	if err != nil {
		return Result{}, err
	}
	return Result{Found: true, Values: 1}, nil
}

// Put is SET (last writer wins), then WAIT when configured.
func (d *redisDriver) Put(ctx context.Context, key, value []byte, _ Token) (Result, error) {
	if d.wait <= 0 {
		if err := d.c.Set(ctx, string(key), value, 0).Err(); err != nil {
			return Result{}, err
		}
		return Result{Found: true, Values: 1}, nil
	}
	var wait *redis.Cmd
	_, err := d.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, string(key), value, 0)
		wait = p.Do(ctx, "wait", d.wait, d.waitTimeout.Milliseconds())
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	n, err := wait.Int64()
	if err != nil {
		return Result{}, err
	}
	if n < int64(d.wait) {
		return Result{}, fmt.Errorf("%w: WAIT %d: %d replicas acknowledged", ErrUnavailable, d.wait, n)
	}
	return Result{Found: true, Values: 1}, nil
}

func (d *redisDriver) Close() error { return d.c.Close() }
