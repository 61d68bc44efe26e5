// Statistics for benchmark figures an engineer can trust: summary of repeated samples, the
// 95 % confidence interval of a paired difference (Student's t over interleaved rounds) and of a
// per-round slope.
//
//   Summary s = Summarize({553.1, 549.8, 551.0});        // mean, median, stddev, cv, n
//   Interval d = PairedDifference(leaf, root);            // leaf[i] - root[i], same rounds
//   d.Resolved()   ->  false when the interval spans zero: report "not resolved", not a number
//   Interval k = MeanSlope(rounds_by_depth, depths);      // ns per cgroup level
//   Interval r = MeanRelativeSlope(rounds_by_depth, depths);  // slope as % of base cost per unit
//   DescribeInterval(d, "%", "overhead")  ->  "+3.10 % [+2.50, +3.70]", or when unresolved
//                                 "not resolved, -0.40 % .. +0.80 % (|overhead| < 0.80 %)"
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace ckc::bench {

struct Summary {
  double mean = 0, median = 0, stddev = 0, cv = 0;  // cv = stddev / mean (a fraction)
  std::size_t n = 0;
};
[[nodiscard]] Summary Summarize(const std::vector<double>& samples);

// A mean with its 95 % confidence interval [lo, hi].
struct Interval {
  double mean = 0, lo = 0, hi = 0;
  std::size_t n = 0;
  // The interval excludes zero (and there were at least two samples to build it from).
  [[nodiscard]] bool Resolved() const { return n >= 2 && (lo > 0 || hi < 0); }
  [[nodiscard]] double HalfWidth() const { return (hi - lo) / 2; }
  // What an unresolved interval still says: the magnitude is below max(|lo|, |hi|).
  [[nodiscard]] double Bound() const;
};

// The figure as a reader may quote it: the mean with its interval when resolved; otherwise no
// point value at all, only the interval and its bound. `unit` follows each number ("%",
// "ns/level"); `what` names the figure in the bound ("overhead", "slope").
[[nodiscard]] std::string DescribeInterval(const Interval& i, std::string_view unit,
                                           std::string_view what);

// Two-sided 95 % quantile of Student's t with `df` degrees of freedom (df >= 1).
[[nodiscard]] double TQuantile975(std::size_t df);

// Mean of `samples` with its t interval.
[[nodiscard]] Interval MeanInterval(const std::vector<double>& samples);

// a[i] - b[i] over the rounds both have (sizes must match; pairs are rounds of one run).
[[nodiscard]] Interval PairedDifference(const std::vector<double>& a, const std::vector<double>& b);

// Least-squares slope of y over x.
[[nodiscard]] double Slope(const std::vector<double>& x, const std::vector<double>& y);

// by_x[j][r]: sample of round r at x[j]. One slope per round, then their mean with its interval:
// the rounds are the independent repetitions, the depths within a round are not.
[[nodiscard]] Interval MeanSlope(const std::vector<std::vector<double>>& by_x,
                                 const std::vector<double>& x);

// The same per-round slope relative to that round's base cost per unit, in percent:
// 100 * slope * x[0] / by_x[0][r] (x[0] the lowest level). 0: flat; 100: proportional (the cost
// grows like the level itself, as a copy grows with its size).
[[nodiscard]] Interval MeanRelativeSlope(const std::vector<std::vector<double>>& by_x,
                                         const std::vector<double>& x);

}  // namespace ckc::bench
