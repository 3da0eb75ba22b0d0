-- Reverts 20260112_add_performance_indexes, the way Prisma reverts an applied migration: a new
-- migration that undoes it (Prisma writes no down scripts, and `prisma migrate resolve
-- --rolled-back` only marks a *failed* migration; it drops nothing). Only when the indexes
-- themselves are the problem: copy this folder into prisma/migrations (and remove the
-- @@index lines from schema.prisma), then `shipgate migrate` applies it like any migration.

-- DropIndex
DROP INDEX "Member_userId_idx";

-- DropIndex
DROP INDEX "Member_status_createdAt_idx";

-- DropIndex
DROP INDEX "Payment_memberId_createdAt_idx";

-- DropIndex
DROP INDEX "AuditLog_userId_createdAt_idx";
