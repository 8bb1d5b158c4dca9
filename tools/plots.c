/* mxblas analyze --plots DIR: SVG plots of the measurements, and
 * DIR/report.html with them inline.
 *   sqnr.svg             SQNR per tensor, one series per format
 *   heatmap.svg          SQNR per layer (tensors grouped by the layer number
 *                        in their names) and format
 *   scale_codes.svg      histograms of the block scale codes, per format
 *   error_magnitude.svg  SQNR of the values in each binade of |x|, per format
 * Plain SVG 1.1, no scripts or external resources. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "analyze.h"

static const char *k_colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
                                 "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#000000", "#aec7e8"};
#define NCOLORS (sizeof(k_colors) / sizeof(k_colors[0]))
#define FONT "font-family=\"sans-serif\""
#define MAX_BINS_RUNS 64 /* as many runs as analyze makes */

/* Text from a file, safe inside SVG/HTML: escaped as for a terminal, then
 * the XML entities. */
static void put_text(FILE *f, const char *s) {
  char buf[512];
  mxio_escaped(s, MXIO_ESC_TEXT, buf, sizeof(buf));
  for (const char *p = buf; *p; p++) {
    if (*p == '&') fputs("&amp;", f);
    else if (*p == '<') fputs("&lt;", f);
    else if (*p == '>') fputs("&gt;", f);
    else if (*p == '"') fputs("&quot;", f);
    else fputc(*p, f);
  }
}

static void run_label(FILE *f, const an_run *r) { fprintf(f, "%s%s", r->label, r->rht ? " + RHT" : ""); }

/* One colour per format (its rank among the formats analyzed); the RHT run
 * of a format shares it, drawn dashed. */
static const char *color(const an_data *d, int k) {
  int rank = 0;
  for (int j = 0; j < k; j++) {
    int first = 1;
    for (int i = 0; i < j; i++) first &= d->runs[i].format != d->runs[j].format;
    rank += first && d->runs[j].format != d->runs[k].format;
  }
  return k_colors[rank % NCOLORS];
}
static const char *dash(const an_data *d, int k) { return d->runs[k].rht ? " stroke-dasharray=\"6 3\"" : ""; }

static double sqnr_of(double sig, double err) { return err > 0 ? 10.0 * log10(sig / err) : INFINITY; }

/* Axis range [lo, hi] rounded out to a multiple of step. */
static void nice_range(double *lo, double *hi, double step) {
  if (!(*hi > *lo)) {
    *lo -= step;
    *hi += step;
  }
  *lo = floor(*lo / step) * step;
  *hi = ceil(*hi / step) * step;
}

typedef struct frame {
  double x0, y0, w, h;      /* the plot area in pixels */
  double xlo, xhi, ylo, yhi; /* data ranges */
} frame;

static double px(const frame *fr, double x) { return fr->x0 + (x - fr->xlo) / (fr->xhi - fr->xlo) * fr->w; }
static double py(const frame *fr, double y) { return fr->y0 + fr->h - (y - fr->ylo) / (fr->yhi - fr->ylo) * fr->h; }

static void svg_open(FILE *f, int w, int h, const char *title) {
  fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n"
             "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n"
             "<text x=\"%d\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" " FONT ">%s</text>\n",
          w, h, w, h, w, h, w / 2, title);
}

/* Grid lines and labels of the y axis every ystep, the frame, the axis titles. */
static void axes(FILE *f, const frame *fr, double ystep, const char *xtitle, const char *ytitle) {
  for (double y = fr->ylo; y <= fr->yhi + 1e-9; y += ystep) {
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", fr->x0, py(fr, y),
            fr->x0 + fr->w, py(fr, y));
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"11\" " FONT ">%g</text>\n", fr->x0 - 5,
            py(fr, y) + 4, y);
  }
  fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#444\"/>\n", fr->x0,
          fr->y0, fr->w, fr->h);
  fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"12\" " FONT ">%s</text>\n",
          fr->x0 + fr->w / 2, fr->y0 + fr->h + 38, xtitle);
  fprintf(f,
          "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"12\" " FONT
          " transform=\"rotate(-90 %.1f %.1f)\">%s</text>\n",
          fr->x0 - 42, fr->y0 + fr->h / 2, fr->x0 - 42, fr->y0 + fr->h / 2, ytitle);
}

static void legend(FILE *f, const an_data *d, double x, double y) {
  for (int k = 0; k < d->nruns; k++) {
    double yy = y + 16 * k;
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"%s/>\n", x,
            yy - 4, x + 22, yy - 4, color(d, k), dash(d, k));
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" " FONT ">", x + 27, yy);
    run_label(f, &d->runs[k]);
    fputs("</text>\n", f);
  }
}

/* SQNR per tensor (file order), one series per format. */
static void plot_sqnr(FILE *f, const an_data *d) {
  double lo = INFINITY, hi = -INFINITY;
  for (int i = 0; i < d->nresults; i++)
    if (d->results[i].status == MXB_SUCCESS && isfinite(d->results[i].st.sqnr_db)) {
      lo = fmin(lo, d->results[i].st.sqnr_db);
      hi = fmax(hi, d->results[i].st.sqnr_db);
    }
  if (!isfinite(lo)) lo = 0, hi = 10;
  nice_range(&lo, &hi, 5);
  int labels = d->ntensors <= 48;
  int w = 900, h = labels ? 560 : 420;
  frame fr = {70, 40, 640, 300, -0.5, d->ntensors - 0.5, lo, hi};
  svg_open(f, w, h, "SQNR per tensor and format (higher is better)");
  axes(f, &fr, 5, labels ? "" : "tensor (file order)", "SQNR (dB)");
  for (int t = 0; labels && t < d->ntensors; t++) {
    double x = px(&fr, t), y = fr.y0 + fr.h + 8;
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"9\" " FONT " transform=\"rotate(60 %.1f %.1f)\">", x, y, x,
            y);
    put_text(f, d->tensors[t].name);
    fputs("</text>\n", f);
  }
  for (int k = 0; k < d->nruns; k++) {
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\"%s points=\"", color(d, k), dash(d, k));
    for (int t = 0; t < d->ntensors; t++) {
      const an_result *r = &d->results[t * d->nruns + k];
      if (r->status == MXB_SUCCESS && isfinite(r->st.sqnr_db))
        fprintf(f, "%.1f,%.1f ", px(&fr, t), py(&fr, r->st.sqnr_db));
    }
    fputs("\"/>\n", f);
    for (int t = 0; t < d->ntensors && d->ntensors <= 200; t++) {
      const an_result *r = &d->results[t * d->nruns + k];
      if (r->status == MXB_SUCCESS && isfinite(r->st.sqnr_db))
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\" stroke=\"%s\"/>\n", px(&fr, t),
                py(&fr, r->st.sqnr_db), d->runs[k].rht ? "white" : color(d, k), color(d, k));
    }
  }
  legend(f, d, fr.x0 + fr.w + 20, fr.y0 + 10);
  fputs("</svg>\n", f);
}

/* The layer of a tensor: the first all-digit component of its dotted name
 * ("model.layers.12.mlp.up_proj.weight" -> 12), or -1. */
static long layer_of(const char *name) {
  for (const char *p = name; *p;) {
    const char *e = strchr(p, '.');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    size_t digits = strspn(p, "0123456789");
    if (n > 0 && digits == n && n < 9) return strtol(p, NULL, 10);
    if (!e) break;
    p = e + 1;
  }
  return -1;
}

/* A colour from red (lo) through yellow to green (hi). */
static void heat(double v, double lo, double hi, char *out) {
  double t = hi > lo ? (v - lo) / (hi - lo) : 0.5;
  t = t < 0 ? 0 : t > 1 ? 1 : t;
  int r = t < 0.5 ? 215 : (int)(215 - (t - 0.5) * 2 * 175), g = t < 0.5 ? (int)(48 + t * 2 * 167) : 215;
  int b = t < 0.5 ? 39 : (int)(39 + (t - 0.5) * 2 * 60);
  sprintf(out, "#%02x%02x%02x", r, g, b);
}

static int cmp_long(const void *a, const void *b) {
  long x = *(const long *)a, y = *(const long *)b;
  return (x > y) - (x < y);
}

/* SQNR per layer (all tensors of a layer together) and format. Without
 * layer numbers in the names, one row per tensor. */
static void plot_heatmap(FILE *f, const an_data *d) {
  long *layers = malloc(sizeof(long) * (size_t)(d->ntensors + 1));
  int nl = 0, by_layer = 0;
  for (int t = 0; t < d->ntensors; t++) by_layer |= layer_of(d->tensors[t].name) >= 0;
  for (int t = 0; by_layer && t < d->ntensors; t++) {
    long l = layer_of(d->tensors[t].name), seen = 0;
    for (int j = 0; j < nl; j++) seen |= layers[j] == l;
    if (!seen) layers[nl++] = l;
  }
  if (by_layer) qsort(layers, (size_t)nl, sizeof(long), cmp_long);
  int rows = by_layer ? nl : d->ntensors;
  double *v = malloc(sizeof(double) * (size_t)(rows * d->nruns + 1));
  double lo = INFINITY, hi = -INFINITY;
  for (int r = 0; r < rows; r++)
    for (int k = 0; k < d->nruns; k++) {
      double sig = 0, err = 0;
      int any = 0;
      for (int t = 0; t < d->ntensors; t++) {
        if (by_layer ? layer_of(d->tensors[t].name) != layers[r] : t != r) continue;
        const an_result *x = &d->results[t * d->nruns + k];
        if (x->status != MXB_SUCCESS) continue;
        sig += d->tensors[t].energy;
        err += x->st.mse * (double)x->st.count;
        any = 1;
      }
      double s = any ? sqnr_of(sig, err) : NAN;
      v[r * d->nruns + k] = s;
      if (isfinite(s)) lo = fmin(lo, s), hi = fmax(hi, s);
    }
  int cw = 100, ch = rows > 60 ? 8 : rows > 30 ? 12 : 20, lw = by_layer ? 70 : 260;
  int w = lw + cw * d->nruns + 40, h = 90 + ch * rows + 50;
  svg_open(f, w < 420 ? 420 : w, h, by_layer ? "SQNR (dB) per layer and format" : "SQNR (dB) per tensor and format");
  for (int k = 0; k < d->nruns; k++) {
    fprintf(f, "<text x=\"%d\" y=\"70\" text-anchor=\"middle\" font-size=\"10\" " FONT ">", lw + cw * k + cw / 2);
    run_label(f, &d->runs[k]);
    fputs("</text>\n", f);
  }
  for (int r = 0; r < rows; r++) {
    int y = 80 + ch * r;
    if (ch >= 12 || r % 5 == 0) {
      fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" font-size=\"%d\" " FONT ">", lw - 6, y + ch - 3,
              ch >= 12 ? 10 : 8);
      if (!by_layer)
        put_text(f, d->tensors[r].name);
      else if (layers[r] < 0)
        fputs("other", f);
      else
        fprintf(f, "layer %ld", layers[r]);
      fputs("</text>\n", f);
    }
    for (int k = 0; k < d->nruns; k++) {
      double s = v[r * d->nruns + k];
      char col[8] = "#cccccc";
      if (isfinite(s)) heat(s, lo, hi, col);
      fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\" stroke=\"white\"/>\n", lw + cw * k, y,
              cw, ch, col);
      if (ch >= 12 && !isnan(s))
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"10\" " FONT ">%.1f</text>\n",
                lw + cw * k + cw / 2, y + ch - 4, s);
    }
  }
  int y = 80 + ch * rows + 22;
  for (int i = 0; i <= 10; i++) {
    char col[8];
    heat(lo + (hi - lo) * i / 10, lo, hi, col);
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"18\" height=\"10\" fill=\"%s\"/>\n", lw + 18 * i, y, col);
  }
  fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"end\" " FONT ">%.1f dB</text>\n", lw - 4, y + 9,
          isfinite(lo) ? lo : 0);
  fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"10\" " FONT ">%.1f dB</text>\n", lw + 18 * 11 + 4, y + 9,
          isfinite(hi) ? hi : 0);
  fputs("</svg>\n", f);
  free(layers);
  free(v);
}

/* Histograms of the scale bytes (UE4M3, E8M0, BDR shared exponents), summed
 * over the tensors, one panel per format that has them. */
static void plot_scales(FILE *f, const an_data *d) {
  int np = 0;
  for (int k = 0; k < d->nruns; k++) np += d->runs[k].scale_type >= MXB_SCALE_UE4M3 && d->runs[k].scale_type <= MXB_SCALE_BDR;
  int cols = 2, pw = 420, ph = 190, rows = np ? (np + cols - 1) / cols : 1;
  svg_open(f, cols * pw + 20, 40 + rows * ph + 10, "Block scale codes (bytes), summed over the tensors");
  if (!np)
    fprintf(f, "<text x=\"20\" y=\"70\" font-size=\"12\" " FONT ">no format with byte scales was analyzed</text>\n");
  for (int k = 0, p = 0; k < d->nruns; k++) {
    const an_run *run = &d->runs[k];
    if (run->scale_type < MXB_SCALE_UE4M3 || run->scale_type > MXB_SCALE_BDR) continue;
    double hist[256] = {0}, top = 0;
    int clo = 255, chi = 0;
    for (int t = 0; t < d->ntensors; t++) {
      const an_result *r = &d->results[t * d->nruns + k];
      if (r->status != MXB_SUCCESS) continue;
      for (int c = 0; c < 256; c++) hist[c] += (double)r->st.scale_code_hist[c];
    }
    for (int c = 0; c < 256; c++)
      if (hist[c] > 0) {
        top = fmax(top, hist[c]);
        clo = c < clo ? c : clo;
        chi = c;
      }
    if (top == 0) clo = 0, chi = 255;
    clo = clo > 2 ? clo - 2 : 0;
    chi = chi < 253 ? chi + 2 : 255;
    frame fr = {(p % cols) * pw + 60.0, 40.0 + (p / cols) * ph + 20, pw - 80.0, ph - 70.0, clo - 0.5, chi + 0.5, 0,
                top > 0 ? top : 1};
    p++;
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" " FONT ">", fr.x0, fr.y0 - 6);
    run_label(f, run);
    fprintf(f, " (%s)</text>\n", run->scale_type == MXB_SCALE_UE4M3 ? "UE4M3" : run->scale_type == MXB_SCALE_E8M0 ? "E8M0" : "BDR exponent");
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#444\"/>\n", fr.x0,
            fr.y0, fr.w, fr.h);
    double bw = fr.w / (chi - clo + 1);
    for (int c = clo; c <= chi; c++)
      if (hist[c] > 0)
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>\n", px(&fr, c - 0.5),
                py(&fr, hist[c]), bw > 1.5 ? bw - 0.5 : bw, fr.y0 + fr.h - py(&fr, hist[c]), color(d, k));
    int step = (chi - clo) / 6 + 1;
    for (int c = clo; c <= chi; c += step)
      fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"10\" " FONT ">%d</text>\n",
              px(&fr, c), fr.y0 + fr.h + 13, c);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"10\" " FONT ">%.0f</text>\n", fr.x0 - 4,
            fr.y0 + 9, top);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"10\" " FONT ">scale code</text>\n",
            fr.x0 + fr.w / 2, fr.y0 + fr.h + 27);
  }
  fputs("</svg>\n", f);
}

/* SQNR of the values in each binade of |x| (2^e <= |x| < 2^(e+1)): where
 * the error falls. Bins without error are drawn at the top. */
static void plot_magnitude(FILE *f, const an_data *d) {
  double sig[MAX_BINS_RUNS][AN_MAG_BINS], err[MAX_BINS_RUNS][AN_MAG_BINS];
  int nr = d->nruns < MAX_BINS_RUNS ? d->nruns : MAX_BINS_RUNS, blo = AN_MAG_BINS, bhi = -1;
  double lo = INFINITY, hi = -INFINITY;
  for (int k = 0; k < nr; k++)
    for (int b = 0; b < AN_MAG_BINS; b++) {
      sig[k][b] = err[k][b] = 0;
      for (int t = 0; t < d->ntensors; t++) {
        const an_result *r = &d->results[t * d->nruns + k];
        sig[k][b] += r->mag_sig[b];
        err[k][b] += r->mag_err[b];
      }
      if (sig[k][b] > 0) {
        blo = b < blo ? b : blo;
        bhi = b > bhi ? b : bhi;
        double s = sqnr_of(sig[k][b], err[k][b]);
        if (isfinite(s)) lo = fmin(lo, s), hi = fmax(hi, s);
      }
    }
  if (bhi < 0) blo = 0, bhi = 1;
  if (!isfinite(lo)) lo = 0, hi = 10;
  /* Bands almost without error (exactly representable values) would squash
   * the rest: the axis stops at 80 dB, and they are drawn on its top. */
  hi = fmin(hi + 5, 80);
  lo = fmin(lo, hi - 10);
  nice_range(&lo, &hi, 10);
  frame fr = {70, 40, 640, 320, blo + AN_MAG_LO - 0.5, bhi + AN_MAG_LO + 0.5, lo, hi};
  svg_open(f, 900, 430, "SQNR by magnitude: values with 2^e &lt;= |x| &lt; 2^(e+1)");
  axes(f, &fr, 10, "e = floor(log2 |x|)", "SQNR of the band (dB)");
  int step = (bhi - blo) / 12 + 1;
  for (int b = blo; b <= bhi; b += step)
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"10\" " FONT ">%d</text>\n",
            px(&fr, b + AN_MAG_LO), fr.y0 + fr.h + 14, b + AN_MAG_LO);
  for (int k = 0; k < nr; k++) {
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\"%s points=\"", color(d, k), dash(d, k));
    for (int b = blo; b <= bhi; b++)
      if (sig[k][b] > 0) {
        double s = sqnr_of(sig[k][b], err[k][b]);
        fprintf(f, "%.1f,%.1f ", px(&fr, b + AN_MAG_LO), py(&fr, isfinite(s) ? fmin(s, hi) : hi));
      }
    fputs("\"/>\n", f);
  }
  legend(f, d, fr.x0 + fr.w + 20, fr.y0 + 10);
  fputs("</svg>\n", f);
}

static const struct {
  const char *file, *title;
  void (*fn)(FILE *, const an_data *);
} k_plots[] = {
  {"sqnr.svg", "SQNR per tensor", plot_sqnr},
  {"heatmap.svg", "Layer x format", plot_heatmap},
  {"scale_codes.svg", "Scale codes", plot_scales},
  {"error_magnitude.svg", "Error by magnitude", plot_magnitude},
};
#define NPLOTS (sizeof(k_plots) / sizeof(k_plots[0]))

int an_plots(const an_data *d, const char *dir) {
  if (mkdir(dir, 0777) != 0 && errno != EEXIST) return cli_error("%s: %s", dir, strerror(errno));
  char path[4096];
  snprintf(path, sizeof(path), "%s/report.html", dir);
  FILE *html = fopen(path, "w");
  if (!html) return cli_error("%s: %s", path, strerror(errno));
  fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>mxblas analyze</title></head>\n"
        "<body style=\"font-family: sans-serif\">\n<h1>mxblas analyze</h1>\n",
        html);
  fprintf(html, "<p>%d tensors, %d formats. ", d->ntensors, d->nruns);
  fputs("SQNR = 10 log10(&Sigma;x&sup2; / &Sigma;(x &minus; q)&sup2;), higher is better.</p>\n", html);
  int rc = CLI_OK;
  for (size_t p = 0; p < NPLOTS && rc == CLI_OK; p++) {
    snprintf(path, sizeof(path), "%s/%s", dir, k_plots[p].file);
    FILE *f = fopen(path, "w");
    if (!f) {
      rc = cli_error("%s: %s", path, strerror(errno));
      break;
    }
    k_plots[p].fn(f, d);
    if (fclose(f) != 0) rc = cli_error("%s: write failed", path);
    fprintf(html, "<h2>%s</h2>\n", k_plots[p].title);
    k_plots[p].fn(html, d);
  }
  fputs("</body></html>\n", html);
  if (fclose(html) != 0 && rc == CLI_OK) rc = cli_error("%s/report.html: write failed", dir);
  return rc;
}
