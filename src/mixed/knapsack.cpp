#include "mixed/knapsack.hpp"

#include <algorithm>
#include <limits>
#include <numeric>
#include <string>

#include "core/error.hpp"

namespace ptq::mixed {

namespace {

void check_items(const std::vector<std::vector<Choice>>& items) {
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].empty()) throw Error("knapsack: item " + std::to_string(i) + " has no choice");
  }
}

Allocation total(const std::vector<std::vector<Choice>>& items, std::vector<int> pick, bool exact) {
  Allocation a;
  a.pick = std::move(pick);
  a.exact = exact;
  for (size_t i = 0; i < items.size(); ++i) {
    a.bytes += items[i][a.pick[i]].bytes;
    a.cost += items[i][a.pick[i]].cost;
  }
  return a;
}

void check_budget(const std::vector<std::vector<Choice>>& items, uint64_t budget) {
  const uint64_t lo = min_total_bytes(items);
  if (budget < lo) {
    throw Error("knapsack: budget " + std::to_string(budget) + " bytes is below the smallest total " + std::to_string(lo));
  }
}

}  // namespace

uint64_t min_total_bytes(const std::vector<std::vector<Choice>>& items) {
  uint64_t s = 0;
  for (const auto& it : items) {
    uint64_t m = std::numeric_limits<uint64_t>::max();
    for (const Choice& c : it) m = std::min(m, c.bytes);
    s += it.empty() ? 0 : m;
  }
  return s;
}

uint64_t max_total_bytes(const std::vector<std::vector<Choice>>& items) {
  uint64_t s = 0;
  for (const auto& it : items) {
    uint64_t m = 0;
    for (const Choice& c : it) m = std::max(m, c.bytes);
    s += m;
  }
  return s;
}

Allocation allocate_exact(const std::vector<std::vector<Choice>>& items, uint64_t budget, uint64_t max_cells) {
  check_items(items);
  check_budget(items, budget);
  // Bytes above each item's smallest choice, in units of their gcd.
  std::vector<uint64_t> base(items.size());
  uint64_t unit = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    base[i] = std::numeric_limits<uint64_t>::max();
    for (const Choice& c : items[i]) base[i] = std::min(base[i], c.bytes);
    for (const Choice& c : items[i]) unit = std::gcd(unit, c.bytes - base[i]);
  }
  if (unit == 0) unit = 1;  // every item has one size
  const uint64_t spare = budget - min_total_bytes(items);
  const uint64_t cap = std::min(spare / unit, (max_total_bytes(items) - min_total_bytes(items)) / unit);
  if (static_cast<double>(cap + 1) * static_cast<double>(items.size()) > static_cast<double>(max_cells)) {
    throw Error("knapsack: " + std::to_string(cap + 1) + " byte units x " + std::to_string(items.size()) +
                " items exceed the exact table's limit");
  }
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> best(cap + 1, 0.0), next(cap + 1);
  std::vector<std::vector<int8_t>> arg(items.size(), std::vector<int8_t>(cap + 1, -1));
  // best[c]: the least cost of the items so far using at most c units above their minimum.
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].size() > 127) throw Error("knapsack: more than 127 choices for one item");
    std::fill(next.begin(), next.end(), inf);
    for (size_t k = 0; k < items[i].size(); ++k) {
      const uint64_t w = (items[i][k].bytes - base[i]) / unit;
      const double cost = items[i][k].cost;
      for (uint64_t c = w; c <= cap; ++c) {
        const double v = best[c - w] + cost;
        if (v < next[c]) {
          next[c] = v;
          arg[i][c] = static_cast<int8_t>(k);
        }
      }
    }
    best.swap(next);
  }
  std::vector<int> pick(items.size());
  uint64_t c = cap;
  for (size_t i = items.size(); i-- > 0;) {
    const int k = arg[i][c];
    pick[i] = k;
    c -= (items[i][k].bytes - base[i]) / unit;
  }
  return total(items, pick, true);
}

Allocation allocate_lagrangian(const std::vector<std::vector<Choice>>& items, uint64_t budget) {
  check_items(items);
  check_budget(items, budget);
  // For a price lambda per byte each item takes argmin cost + lambda * bytes (ties: fewer bytes).
  auto solve = [&](double lambda) {
    std::vector<int> pick(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      int b = 0;
      for (size_t k = 1; k < items[i].size(); ++k) {
        const double vk = items[i][k].cost + lambda * static_cast<double>(items[i][k].bytes);
        const double vb = items[i][b].cost + lambda * static_cast<double>(items[i][b].bytes);
        if (vk < vb || (vk == vb && items[i][k].bytes < items[i][b].bytes)) b = static_cast<int>(k);
      }
      pick[i] = b;
    }
    return total(items, pick, false);
  };
  double hi = 1.0;  // raise the price until the solution fits
  while (solve(hi).bytes > budget && hi < 1e300) hi *= 2;
  double lo = 0.0;
  Allocation fit = solve(hi);
  if (solve(lo).bytes <= budget) {
    fit = solve(lo);
  } else {
    for (int it = 0; it < 200; ++it) {
      const double mid = 0.5 * (lo + hi);
      const Allocation a = solve(mid);
      if (a.bytes <= budget) {
        hi = mid;
        fit = a;
      } else {
        lo = mid;
      }
    }
  }
  if (fit.bytes > budget) {  // only at prices beyond any cost scale: every item at its smallest choice
    std::vector<int> pick(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      for (size_t k = 0; k < items[i].size(); ++k) {
        if (items[i][k].bytes < items[i][pick[i]].bytes) pick[i] = static_cast<int>(k);
      }
    }
    fit = total(items, pick, false);
  }
  // Spend what is left: repeatedly the single change that lowers the cost most per extra byte.
  for (;;) {
    double best_rate = 0;
    int bi = -1, bk = -1;
    for (size_t i = 0; i < items.size(); ++i) {
      const Choice& cur = items[i][fit.pick[i]];
      for (size_t k = 0; k < items[i].size(); ++k) {
        const Choice& c = items[i][k];
        if (c.cost >= cur.cost || fit.bytes - cur.bytes + c.bytes > budget) continue;
        const double extra = c.bytes > cur.bytes ? static_cast<double>(c.bytes - cur.bytes) : 0.5;
        const double rate = (cur.cost - c.cost) / extra;
        if (rate > best_rate) best_rate = rate, bi = static_cast<int>(i), bk = static_cast<int>(k);
      }
    }
    if (bi < 0) break;
    fit.pick[bi] = bk;
    fit = total(items, fit.pick, false);
  }
  return fit;
}

Allocation allocate(const std::vector<std::vector<Choice>>& items, uint64_t budget) {
  check_items(items);
  check_budget(items, budget);
  try {
    return allocate_exact(items, budget);
  } catch (const Error&) {
    return allocate_lagrangian(items, budget);
  }
}

}  // namespace ptq::mixed
