-- Hand-written (prisma migrate dev --create-only), on Windows: CRLF line endings.
-- Row-level security: a user sees only their own posts (app.user_id is set per request).
ALTER TABLE "Post" ENABLE ROW LEVEL SECURITY;

CREATE POLICY "Post_owner_select" ON "Post"
    FOR SELECT
    USING ("authorId" = current_setting('app.user_id', true)::int OR "published");

CREATE POLICY "Post_owner_write" ON "Post"
    FOR ALL
    USING ("authorId" = current_setting('app.user_id', true)::int)
    WITH CHECK ("authorId" = current_setting('app.user_id', true)::int);

CREATE INDEX "Post_published_idx" ON "Post"("published");
