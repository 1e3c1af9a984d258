// The compiled parts of checked_iarchive: Boost keeps archive members in .ipp files that each
// archive type instantiates once.

#include <boost/archive/impl/archive_serializer_map.ipp>
#include <boost/archive/impl/basic_binary_iarchive.ipp>
#include <boost/archive/impl/basic_binary_iprimitive.ipp>
#include <rankpool/detail/checked_archive.hpp>

namespace boost::archive {
template class basic_binary_iprimitive<rankpool::detail::checked_iarchive, char, std::char_traits<char>>;
template class basic_binary_iarchive<rankpool::detail::checked_iarchive>;
template class binary_iarchive_impl<rankpool::detail::checked_iarchive, char, std::char_traits<char>>;
template class detail::archive_serializer_map<rankpool::detail::checked_iarchive>;
}  // namespace boost::archive
