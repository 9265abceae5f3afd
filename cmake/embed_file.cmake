# cmake -DINPUT=file -DOUTPUT=file.cpp -DSYMBOL=name -DNAMESPACE=ns -P embed_file.cmake
# Writes a C++ source defining `std::span<const unsigned char> NAMESPACE::SYMBOL()` over INPUT's bytes.
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" n)
math(EXPR bytes "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REGEX REPLACE "((0x..,){24})" "\\1\n    " body "${body}")
file(WRITE "${OUTPUT}" "// Generated from ${INPUT} by cmake/embed_file.cmake. Do not edit.
#include <span>
namespace ${NAMESPACE} {
namespace {
alignas(8) const unsigned char kBytes[${bytes}] = {
    ${body}};
}  // namespace
std::span<const unsigned char> ${SYMBOL}() { return {kBytes, sizeof(kBytes)}; }
}  // namespace ${NAMESPACE}
")
