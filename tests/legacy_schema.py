"""The old Node.js webapp's MySQL schema, for the import tests and bench/import_legacy.py."""

# As Sequelize 5 `sync()` created it on MariaDB (JSON is LONGTEXT there); a binary collation on
# the address, since the old data holds addresses that differ only in case.
OLD_SCHEMA = [
    "DROP TABLE IF EXISTS `AttachFiles`",
    "DROP TABLE IF EXISTS `Bills`",
    "DROP TABLE IF EXISTS `Users`",
    """CREATE TABLE `Users` (
        `id` CHAR(36) BINARY NOT NULL, `first_name` VARCHAR(255), `last_name` VARCHAR(255),
        `password` VARCHAR(255), `email_address` VARCHAR(255) COLLATE utf8mb4_bin UNIQUE,
        `account_created` DATETIME NOT NULL, `account_updated` DATETIME NOT NULL, PRIMARY KEY (`id`)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    """CREATE TABLE `Bills` (
        `id` CHAR(36) BINARY NOT NULL, `vendor` VARCHAR(255), `bill_date` DATETIME, `due_date` DATETIME,
        `amount_due` DOUBLE, `payment_status` ENUM('paid','due','past_due','no_payment_required'),
        `categories` JSON, `attachment` JSON, `created_at` DATETIME NOT NULL, `updated_at` DATETIME NOT NULL,
        `UserId` CHAR(36) BINARY, PRIMARY KEY (`id`),
        FOREIGN KEY (`UserId`) REFERENCES `Users` (`id`) ON DELETE SET NULL ON UPDATE CASCADE
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    """CREATE TABLE `AttachFiles` (
        `id` CHAR(36) BINARY NOT NULL, `file_name` VARCHAR(255), `size` VARCHAR(255), `md5` VARCHAR(255),
        `mime_type` VARCHAR(255), `url` VARCHAR(255), `upload_date` DATE, `BillId` CHAR(36) BINARY,
        PRIMARY KEY (`id`), FOREIGN KEY (`BillId`) REFERENCES `Bills` (`id`) ON DELETE CASCADE ON UPDATE CASCADE
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
]
