/* Per-case results of mxblas check (golden and corpus): a text summary, or
 * JSON, and JUnit XML for CI systems. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *k_status[] = {"pass", "fail", "skipped", "error"};

int cli_report_add(cli_report *r, const char *name, int status, const char *fmt, ...) {
  if (r->n == r->cap) {
    int cap = r->cap ? 2 * r->cap : 64;
    cli_case *c = realloc(r->cases, sizeof(*c) * (size_t)cap);
    if (!c) return cli_error("out of memory");
    r->cases = c;
    r->cap = cap;
  }
  cli_case *c = &r->cases[r->n++];
  snprintf(c->name, sizeof(c->name), "%s", name);
  c->status = status;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->message, sizeof(c->message), fmt, ap);
  va_end(ap);
  return CLI_OK;
}

void cli_report_free(cli_report *r) {
  free(r->cases);
  memset(r, 0, sizeof(*r));
}

/* XML text: the five entities, and control characters (not allowed in XML
 * 1.0) as '?'. */
static void xml(FILE *f, const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    switch (*p) {
      case '&': fputs("&amp;", f); break;
      case '<': fputs("&lt;", f); break;
      case '>': fputs("&gt;", f); break;
      case '"': fputs("&quot;", f); break;
      case '\'': fputs("&apos;", f); break;
      default: fputc(*p < 0x20 && *p != '\n' && *p != '\t' ? '?' : *p, f);
    }
  }
}

static int write_junit(const cli_report *r, const char *path, const int *count) {
  FILE *f = fopen(path, "w");
  if (!f) return cli_error("%s: cannot write the JUnit file", path);
  fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n<testsuite name=\"");
  xml(f, r->suite);
  fprintf(f, "\" tests=\"%d\" failures=\"%d\" errors=\"%d\" skipped=\"%d\">\n", r->n, count[CLI_CASE_FAIL],
          count[CLI_CASE_ERROR], count[CLI_CASE_SKIPPED]);
  for (int i = 0; i < r->n; i++) {
    const cli_case *c = &r->cases[i];
    fprintf(f, "  <testcase classname=\"");
    xml(f, r->suite);
    fprintf(f, "\" name=\"");
    xml(f, c->name);
    fprintf(f, "\"");
    if (c->status == CLI_CASE_PASS) {
      fprintf(f, "/>\n");
      continue;
    }
    static const char *tag[] = {"", "failure", "skipped", "error"};
    fprintf(f, ">\n    <%s message=\"", tag[c->status]);
    xml(f, c->message);
    fprintf(f, "\"/>\n  </testcase>\n");
  }
  fprintf(f, "</testsuite>\n</testsuites>\n");
  int bad = ferror(f);
  if (fclose(f) != 0 || bad) return cli_error("%s: write failed", path);
  return CLI_OK;
}

int cli_report_finish(const cli_report *r, const cli_opts *o) {
  const char *impl = r->impl ? r->impl : "none";
  int count[4] = {0};
  for (int i = 0; i < r->n; i++) count[r->cases[i].status]++;
  if (o->json) {
    printf("{\"suite\": \"%s\", \"implementation\": \"", r->suite);
    mxio_put_escaped(stdout, impl, MXIO_ESC_JSON);
    printf("\", \"total\": %d, \"passed\": %d, \"failed\": %d, \"skipped\": %d, \"errors\": %d, \"cases\": [", r->n,
           count[CLI_CASE_PASS], count[CLI_CASE_FAIL], count[CLI_CASE_SKIPPED], count[CLI_CASE_ERROR]);
    for (int i = 0; i < r->n; i++) {
      printf("%s\n  {\"name\": \"", i ? "," : "");
      mxio_put_escaped(stdout, r->cases[i].name, MXIO_ESC_JSON);
      printf("\", \"status\": \"%s\", \"message\": \"", k_status[r->cases[i].status]);
      mxio_put_escaped(stdout, r->cases[i].message, MXIO_ESC_JSON);
      printf("\"}");
    }
    printf("\n]}\n");
  } else {
    static const char *tag[] = {"ok  ", "FAIL", "skip", "ERR "};
    for (int i = 0; i < r->n; i++) {
      const cli_case *c = &r->cases[i];
      printf("%s %s", tag[c->status], c->name);
      if (c->message[0]) {
        fputs(": ", stdout);
        mxio_put_escaped(stdout, c->message, MXIO_ESC_TEXT);
      }
      putchar('\n');
    }
    printf("%d of %d %s checks passed", count[CLI_CASE_PASS], r->n, r->suite);
    if (count[CLI_CASE_FAIL] || count[CLI_CASE_ERROR] || count[CLI_CASE_SKIPPED])
      printf(" (%d failed, %d errors, %d skipped)", count[CLI_CASE_FAIL], count[CLI_CASE_ERROR],
             count[CLI_CASE_SKIPPED]);
    printf(" (%s)\n", impl);
  }
  if (o->junit) {
    int rc = write_junit(r, o->junit, count);
    if (rc != CLI_OK) return rc;
  }
  return count[CLI_CASE_FAIL] || count[CLI_CASE_ERROR] ? CLI_MISMATCH : CLI_OK;
}
