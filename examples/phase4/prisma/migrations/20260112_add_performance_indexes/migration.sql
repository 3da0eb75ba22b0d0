-- Phase 4: indexes for the member portal's hot queries (members of a user, the member list
-- filtered by status and sorted by date, a member's latest payments, a user's audit trail).
-- As `prisma migrate dev` writes them from the @@index lines of schema.prisma: plain CREATE
-- INDEX, which blocks writes to the table while it builds (see the index-build-size check).

-- CreateIndex
CREATE INDEX "Member_userId_idx" ON "Member"("userId");

-- CreateIndex
CREATE INDEX "Member_status_createdAt_idx" ON "Member"("status", "createdAt");

-- CreateIndex
CREATE INDEX "Payment_memberId_createdAt_idx" ON "Payment"("memberId", "createdAt" DESC);

-- CreateIndex
CREATE INDEX "AuditLog_userId_createdAt_idx" ON "AuditLog"("userId", "createdAt");
