-- DPoP (RFC 9449): the RFC 7638 thumbprint of the key a session is bound to, fixed at
-- sign-in; NULL for a bearer session. Every refresh of a bound session needs a proof by it,
-- and its access tokens carry it as cnf.jkt.
ALTER TABLE sessions ADD COLUMN dpop_jkt TEXT;
