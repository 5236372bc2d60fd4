-- A SCIM service provider looks users up by userName, case-insensitively (its uniqueness check on
-- every POST, and `filter=userName eq "..."`, what clients send before creating): without this,
-- each lookup read every object of the system. Partial: only objects that have a userName.
CREATE INDEX "connector_space_object_user_name_idx" ON "connector_space_object"("connected_system_id", "object_type", lower("attributes"->>'userName')) WHERE "attributes" ? 'userName';
