build/obj/http/gate.o: src/http/gate.c src/http/gate.h src/base/log.h \
 src/http/auth_jwt.h src/http/cors.h src/http/rate_limit.h \
 src/http/respond.h src/protocol/protocol.h
src/http/gate.h:
src/base/log.h:
src/http/auth_jwt.h:
src/http/cors.h:
src/http/rate_limit.h:
src/http/respond.h:
src/protocol/protocol.h:
