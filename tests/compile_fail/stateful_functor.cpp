// A function object whose state is not trivially copyable needs a serialize member to travel.
#include <rankpool/rankpool.hpp>
#include <string>

struct prefixer {
  std::string prefix = "x";
  std::size_t operator()(const std::string& s) const { return prefix.size() + s.size(); }
};

void use(rankpool::comm_executor& pool) {
  pool.submit(prefixer{}, std::string("abc"));
}
