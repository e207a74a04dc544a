/* Exact TreeSHAP from per-leaf tables (streams/model/treeshap.py builds them and loads
 * this file, compiled once with the system C compiler). Per row: each split's way as
 * LightGBM decides it, then per leaf the pattern of path features the row follows, and
 * the leaf's contributions for that pattern added to their features. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#define ZERO_THRESHOLD 1.0000000180025095e-35 /* LightGBM's kZeroThreshold */

typedef struct {
    int64_t n_splits;
    const int32_t *feature;
    const double *threshold;
    const uint8_t *default_left;
    const uint8_t *missing; /* 0 none, 1 zero, 2 NaN */
    const int32_t *cat_row; /* -1: numerical; else the split's row of cat_sets */
    int64_t cat_width;      /* categories 0 .. cat_width - 1 */
    const uint8_t *cat_sets;
    int64_t n_leaves;
    const int32_t *slot_start; /* per leaf, and one past the last */
    const int32_t *slot_feature;
    const int32_t *cond_start; /* per slot, and one past the last */
    const int32_t *cond_node;
    const uint8_t *cond_left;
    const int64_t *table_offset; /* per leaf */
    const double *table;
    int64_t n_features;
    double base;
} Tables;

static uint8_t go_left(const Tables *t, int64_t k, const double *x) {
    double v = x[t->feature[k]];
    int32_t row = t->cat_row[k];
    if (row >= 0) { /* NaN, negative or unseen categories go right */
        if (isnan(v) || v < 0 || v >= (double)t->cat_width) return 0;
        return t->cat_sets[row * t->cat_width + (int64_t)v];
    }
    uint8_t missing = t->missing[k];
    if (isnan(v) && missing != 2) v = 0.0;
    if ((missing == 1 && fabs(v) <= ZERO_THRESHOLD) || (missing == 2 && isnan(v)))
        return t->default_left[k];
    return v <= t->threshold[k];
}

/* left: n_rows x n_splits scratch. Leaves outside, rows inside: rows mostly follow the
 * same patterns, so a leaf's table stays in cache across them (the tables are larger
 * than the cache, and a miss per leaf and row was most of the cost). */
void treeshap_rows(const Tables *t, int64_t n_rows, int64_t stride, const double *X,
                   double *out, uint8_t *left) {
    int64_t width = t->n_features + 1;
    for (int64_t r = 0; r < n_rows; r++) {
        for (int64_t k = 0; k < t->n_splits; k++)
            left[r * t->n_splits + k] = go_left(t, k, X + r * stride);
        memset(out + r * width, 0, sizeof(double) * t->n_features);
        out[r * width + t->n_features] = t->base;
    }
    for (int64_t l = 0; l < t->n_leaves; l++) {
        int32_t s0 = t->slot_start[l], s1 = t->slot_start[l + 1];
        const double *table = t->table + t->table_offset[l];
        for (int64_t r = 0; r < n_rows; r++) {
            const uint8_t *row_left = left + r * t->n_splits;
            int64_t pattern = 0;
            for (int32_t s = s0; s < s1; s++) {
                uint8_t ok = 1; /* no early exit: a data-dependent branch costs more */
                for (int32_t c = t->cond_start[s]; c < t->cond_start[s + 1]; c++)
                    ok &= row_left[t->cond_node[c]] == t->cond_left[c];
                pattern |= (int64_t)ok << (s - s0);
            }
            const double *values = table + pattern * (s1 - s0);
            double *o = out + r * width;
            for (int32_t s = s0; s < s1; s++) o[t->slot_feature[s]] += values[s - s0];
        }
    }
}
