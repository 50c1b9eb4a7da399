package workers

import (
	"sync"
	"time"
)

// Idle is about how long a worker waits for more work before it exits
// (see loop).
const Idle = 5 * time.Second

// Pool runs short tasks (one client operation, one batch of applies) on
// long-lived goroutines. A fresh goroutine per task starts on a small stack
// and grows it through the coordinator and Pebble, copying it a few times
// on every task; a worker keeps its grown stack. Callers bound how many
// tasks run at once; workers only bound how long idle goroutines linger.
type Pool struct {
	tasks chan func()
	stop  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
}

// New returns a pool with no worker yet.
func New() *Pool {
	return &Pool{tasks: make(chan func()), stop: make(chan struct{})}
}

// Run hands task to an idle worker, or starts one. It never blocks.
func (w *Pool) Run(task func()) {
	select {
	case w.tasks <- task:
	default:
		w.wg.Go(func() { w.loop(task) })
	}
}

// loop runs tasks until the worker has had none for a whole Idle
// period (so it exits 1–2 periods after its last task): the timer is not
// reset per task, which would cost a timer update on every operation.
func (w *Pool) loop(task func()) {
	idle := time.NewTimer(Idle)
	defer idle.Stop()
	ran := false
	for {
		if task != nil {
			task()
			ran = true
		}
		select {
		case task = <-w.tasks:
		case <-idle.C:
			if !ran {
				return
			}
			ran, task = false, nil
			idle.Reset(Idle)
		case <-w.stop:
			return
		}
	}
}

// Close makes idle workers exit and waits for every worker; tasks still
// running finish first. A task handed in later still runs, on a worker that
// exits after it.
func (w *Pool) Close() {
	w.once.Do(func() { close(w.stop) })
	w.wg.Wait()
}
