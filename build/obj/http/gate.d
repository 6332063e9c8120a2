build/obj/http/gate.o: src/http/gate.c src/http/gate.h
src/http/gate.h:
