/* The CPU thread pool: workers started on first need and kept for the
 * process's lifetime, one job at a time. A caller that finds the pool busy
 * (another thread's call, or a task that itself calls into the pool) runs
 * its tasks alone, so concurrent calls never wait on each other and never
 * deadlock, and their results are the same. */
#include "cpu/pool.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

/* Below this many elementary operations a call stays on the calling thread:
 * waking a worker costs tens of microseconds. */
#define MIN_PARALLEL_WORK 65536.0

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_env_threads;
static atomic_int g_override;

static void pool_child_reset(void);

static void read_env(void) {
  long n = 0;
  const char *s = getenv("MXBLAS_NUM_THREADS");
  if (s && *s) {
    char *end;
    n = strtol(s, &end, 10);
    if (*end || n < 1) n = 0; /* not a positive number: the default */
  }
  if (n == 0) {
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    n = c < 1 ? 1 : c > MXB_CPU_DEFAULT_THREADS ? MXB_CPU_DEFAULT_THREADS : c;
  }
  g_env_threads = n > MXB_CPU_MAX_THREADS ? MXB_CPU_MAX_THREADS : (int)n;
  /* a forked child has none of the parent's workers */
  pthread_atfork(NULL, NULL, pool_child_reset);
}

int mxb_cpu_threads(void) {
  pthread_once(&g_once, read_env);
  int o = atomic_load(&g_override);
  return o > 0 ? (o > MXB_CPU_MAX_THREADS ? MXB_CPU_MAX_THREADS : o) : g_env_threads;
}

void mxb_cpu_set_threads(int n) { atomic_store(&g_override, n > 0 ? n : 0); }

int mxb_cpu_plan(int64_t ntasks, double work) {
  int t = mxb_cpu_threads();
  if (t <= 1 || ntasks < 2 || work < MIN_PARALLEL_WORK) return 1;
  return ntasks < t ? (int)ntasks : t;
}

static struct {
  pthread_mutex_t busy; /* held by the caller whose job runs */
  pthread_mutex_t m;    /* guards everything below but `next` */
  pthread_cond_t wake, done;
  int workers;          /* started so far (slots 1..workers) */
  uint64_t gen;         /* job number */
  int threads;          /* slots taking part in the current job */
  int running;          /* workers still in the current job */
  mxb_task_fn fn;
  void *arg;
  int64_t ntasks;
  atomic_int_fast64_t next; /* next task to hand out */
  uint64_t start_gen[MXB_CPU_MAX_THREADS];
} P = {.busy = PTHREAD_MUTEX_INITIALIZER,
       .m = PTHREAD_MUTEX_INITIALIZER,
       .wake = PTHREAD_COND_INITIALIZER,
       .done = PTHREAD_COND_INITIALIZER};

static void pool_child_reset(void) {
  pthread_mutex_init(&P.busy, NULL);
  pthread_mutex_init(&P.m, NULL);
  pthread_cond_init(&P.wake, NULL);
  pthread_cond_init(&P.done, NULL);
  P.workers = 0;
  P.running = 0;
}

static void drain(mxb_task_fn fn, void *arg, int64_t ntasks, int slot) {
  for (;;) {
    int64_t t = atomic_fetch_add(&P.next, 1);
    if (t >= ntasks) return;
    fn(arg, t, slot);
  }
}

static void *worker(void *p) {
  const int slot = (int)(intptr_t)p;
  pthread_mutex_lock(&P.m);
  uint64_t seen = P.start_gen[slot]; /* the job it was started for is the next one */
  for (;;) {
    while (P.gen == seen) pthread_cond_wait(&P.wake, &P.m);
    seen = P.gen;
    if (slot >= P.threads) continue; /* not needed for this job */
    mxb_task_fn fn = P.fn;
    void *arg = P.arg;
    int64_t n = P.ntasks;
    pthread_mutex_unlock(&P.m);
    drain(fn, arg, n, slot);
    pthread_mutex_lock(&P.m);
    if (--P.running == 0) pthread_cond_signal(&P.done);
  }
  return NULL;
}

/* Starts workers up to slot `threads - 1` (P.m held); returns how many
 * threads the job can have. Signals stay with the caller's threads. */
static int grow(int threads) {
  if (P.workers >= threads - 1) return threads;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_attr_t at;
  pthread_attr_init(&at);
  pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
  while (P.workers < threads - 1) {
    pthread_t th;
    P.start_gen[P.workers + 1] = P.gen;
    if (pthread_create(&th, &at, worker, (void *)(intptr_t)(P.workers + 1)) != 0) break;
    P.workers++;
  }
  pthread_attr_destroy(&at);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return P.workers + 1 < threads ? P.workers + 1 : threads;
}

void mxb_cpu_run(int threads, int64_t ntasks, mxb_task_fn fn, void *arg) {
  if (threads > 1 && ntasks > 1 && pthread_mutex_trylock(&P.busy) == 0) {
    pthread_mutex_lock(&P.m);
    threads = grow(threads);
    if (threads > 1) {
      P.fn = fn;
      P.arg = arg;
      P.ntasks = ntasks;
      atomic_store(&P.next, 0);
      P.threads = threads;
      P.running = threads - 1;
      P.gen++;
      pthread_cond_broadcast(&P.wake);
      pthread_mutex_unlock(&P.m);
      drain(fn, arg, ntasks, 0);
      pthread_mutex_lock(&P.m);
      while (P.running) pthread_cond_wait(&P.done, &P.m);
      pthread_mutex_unlock(&P.m);
      pthread_mutex_unlock(&P.busy);
      return;
    }
    pthread_mutex_unlock(&P.m);
    pthread_mutex_unlock(&P.busy);
  }
  for (int64_t t = 0; t < ntasks; t++) fn(arg, t, 0);
}
