#include "stats.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

namespace ckc::bench {

Summary Summarize(const std::vector<double>& samples) {
  Summary s;
  s.n = samples.size();
  if (s.n == 0) return s;
  s.mean = std::accumulate(samples.begin(), samples.end(), 0.0) / static_cast<double>(s.n);
  std::vector<double> sorted = samples;
  std::ranges::sort(sorted);
  s.median = s.n % 2 ? sorted[s.n / 2] : (sorted[s.n / 2 - 1] + sorted[s.n / 2]) / 2;
  if (s.n > 1) {
    double ss = 0;
    for (double v : samples) ss += (v - s.mean) * (v - s.mean);
    s.stddev = std::sqrt(ss / static_cast<double>(s.n - 1));
  }
  s.cv = s.mean != 0 ? s.stddev / std::fabs(s.mean) : 0;
  return s;
}

double TQuantile975(std::size_t df) {
  static constexpr std::array<double, 30> kTable = {
      12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
      2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
      2.080,  2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
  if (df == 0) return INFINITY;
  if (df <= kTable.size()) return kTable[df - 1];
  // Cornish-Fisher expansion around the normal quantile: exact to 1e-3 beyond 30 df.
  const double z = 1.959964, v = static_cast<double>(df);
  return z + (z * z * z + z) / (4 * v) +
         (5 * std::pow(z, 5) + 16 * z * z * z + 3 * z) / (96 * v * v);
}

Interval MeanInterval(const std::vector<double>& samples) {
  Summary s = Summarize(samples);
  Interval out{s.mean, s.mean, s.mean, s.n};
  if (s.n < 2) return out;
  double h = TQuantile975(s.n - 1) * s.stddev / std::sqrt(static_cast<double>(s.n));
  out.lo = s.mean - h;
  out.hi = s.mean + h;
  return out;
}

Interval PairedDifference(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> d;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) d.push_back(a[i] - b[i]);
  return MeanInterval(d);
}

double Slope(const std::vector<double>& x, const std::vector<double>& y) {
  std::size_t n = std::min(x.size(), y.size());
  if (n < 2) return 0;
  double mx =
      std::accumulate(x.begin(), x.begin() + static_cast<long>(n), 0.0) / static_cast<double>(n);
  double my =
      std::accumulate(y.begin(), y.begin() + static_cast<long>(n), 0.0) / static_cast<double>(n);
  double sxy = 0, sxx = 0;
  for (std::size_t i = 0; i < n; ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
  }
  return sxx > 0 ? sxy / sxx : 0;
}

double Interval::Bound() const { return std::max(std::fabs(lo), std::fabs(hi)); }

std::string DescribeInterval(const Interval& i, std::string_view unit, std::string_view what) {
  if (i.Resolved()) return fmt::format("{:+.2f} {} [{:+.2f}, {:+.2f}]", i.mean, unit, i.lo, i.hi);
  if (i.n < 2) return fmt::format("not resolved, {} sample(s): no interval", i.n);
  return fmt::format("not resolved, {:+.2f} {} .. {:+.2f} {} (|{}| < {:.2f} {})", i.lo, unit, i.hi,
                     unit, what, i.Bound(), unit);
}

namespace {

// One value per round, from that round's samples at every x.
template <typename PerRound>
Interval OverRounds(const std::vector<std::vector<double>>& by_x, PerRound per_round) {
  std::size_t rounds = by_x.empty() ? 0 : by_x.front().size();
  for (const auto& v : by_x) rounds = std::min(rounds, v.size());
  std::vector<double> values;
  for (std::size_t r = 0; r < rounds; ++r) {
    std::vector<double> y;
    for (const auto& v : by_x) y.push_back(v[r]);
    values.push_back(per_round(y));
  }
  return MeanInterval(values);
}

}  // namespace

Interval MeanSlope(const std::vector<std::vector<double>>& by_x, const std::vector<double>& x) {
  return OverRounds(by_x, [&](const std::vector<double>& y) { return Slope(x, y); });
}

Interval MeanRelativeSlope(const std::vector<std::vector<double>>& by_x,
                           const std::vector<double>& x) {
  return OverRounds(by_x, [&](const std::vector<double>& y) {
    return y.empty() || y.front() == 0 ? 0.0 : 100.0 * Slope(x, y) * x.front() / y.front();
  });
}

}  // namespace ckc::bench
