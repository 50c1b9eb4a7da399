package node

import (
	"sync"
	"time"
)

// workerIdle is about how long a worker waits for more work before it
// exits (see loop).
const workerIdle = 5 * time.Second

// workers runs short tasks (one client operation, one batch of applies) on
// long-lived goroutines. A fresh goroutine per task starts on a small stack
// and grows it through the coordinator and Pebble, copying it a few times
// on every task; a worker keeps its grown stack. Callers bound how many
// tasks run at once; workers only bound how long idle goroutines linger.
type workers struct {
	tasks chan func()
	stop  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
}

func newWorkers() *workers {
	return &workers{tasks: make(chan func()), stop: make(chan struct{})}
}

// run hands task to an idle worker, or starts one. It never blocks.
func (w *workers) run(task func()) {
	select {
	case w.tasks <- task:
	default:
		w.wg.Go(func() { w.loop(task) })
	}
}

// loop runs tasks until the worker has had none for a whole workerIdle
// period (so it exits 1–2 periods after its last task): the timer is not
// reset per task, which would cost a timer update on every operation.
func (w *workers) loop(task func()) {
	idle := time.NewTimer(workerIdle)
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
			idle.Reset(workerIdle)
		case <-w.stop:
			return
		}
	}
}

// close makes idle workers exit and waits for every worker; tasks still
// running finish first. A task handed in later still runs, on a worker that
// exits after it.
func (w *workers) close() {
	w.once.Do(func() { close(w.stop) })
	w.wg.Wait()
}
