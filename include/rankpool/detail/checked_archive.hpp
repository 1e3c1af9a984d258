#pragma once
// A Boost binary input archive that checks every length it reads against the bytes left in the
// message before anything is allocated: a lying collection count or string length inside a user
// class's serialize() becomes decode_error instead of a multi-gigabyte allocation.

#include <boost/archive/binary_iarchive_impl.hpp>
#include <boost/archive/detail/register_archive.hpp>
#include <boost/serialization/collection_size_type.hpp>
#include <cstddef>
#include <rankpool/detail/buffer.hpp>
#include <string>

namespace rankpool::detail {

class checked_iarchive : public boost::archive::binary_iarchive_impl<checked_iarchive, char, std::char_traits<char>> {
  using base = boost::archive::binary_iarchive_impl<checked_iarchive, char, std::char_traits<char>>;
  friend class boost::archive::detail::interface_iarchive<checked_iarchive>;
  friend class boost::archive::basic_binary_iarchive<checked_iarchive>;
  friend class boost::archive::basic_binary_iprimitive<checked_iarchive, char, std::char_traits<char>>;
  friend class boost::archive::load_access;

 public:
  checked_iarchive(in_buffer& sb, unsigned int flags) : base(sb, flags), sb_(sb) { init(flags); }
  /// Bytes left in the message (for loaders that size an allocation from it).
  std::size_t remaining() const noexcept { return sb_.remaining(); }

 protected:
  template <class T>
  void load_override(T& t) {
    base::load_override(t);
  }
  void load_override(boost::serialization::collection_size_type& t) {
    base::load_override(t);
    // Every element takes at least one byte.
    const std::size_t count = static_cast<const boost::serialization::collection_size_type&>(t);
    if (count > sb_.remaining()) throw decode_error("rankpool: a collection count in the message exceeds the message");
  }
  using base::load;
  void load(std::string& s) {
    std::size_t n = 0;
    this->load_binary(&n, sizeof n);
    if (n > sb_.remaining()) throw decode_error("rankpool: a string length in the message exceeds the message");
    s.resize(n);
    if (n) this->load_binary(s.data(), n);
  }

 private:
  in_buffer& sb_;
};

}  // namespace rankpool::detail

BOOST_SERIALIZATION_REGISTER_ARCHIVE(rankpool::detail::checked_iarchive)
BOOST_SERIALIZATION_USE_ARRAY_OPTIMIZATION(rankpool::detail::checked_iarchive)
