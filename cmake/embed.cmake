# Turns a text file into a C string constant: cmake -DIN=file -DOUT=file.c -DNAME=symbol -P embed.cmake
# (the explorer's page travels inside the program, so an installed astromorph needs no data files).
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE "${OUT}" "/* Generated from ${IN} by cmake/embed.cmake; do not edit. */\n#include <stddef.h>\n"
     "const char ${NAME}[] = {${bytes}0x00};\nconst size_t ${NAME}_len = sizeof ${NAME} - 1;\n")
