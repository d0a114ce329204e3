-- Topic names Lookout stores are at most 1024 bytes (app::topic_filter::MAX_TOPIC_BYTES): ingest
-- sets longer ones aside, publishing refuses them. MQTT allows 65,535 bytes, but PostgreSQL cannot
-- index a name over about 2,700 (topic_name_key), and such a name once made the writer retry its
-- batch forever. NOT VALID: a name stored earlier is kept; every new one is checked.
alter table topic
    add constraint topic_name_storable check (octet_length(name) <= 1024) not valid;
